/**
 * Relays binary frames between two paired WebSockets without looking at them, with backpressure:
 * while the receiver's send buffer is above HIGH_WATER the sender is not read, so memory per
 * session stays bounded (about HIGH_WATER + one frame per direction) whatever the payload.
 */
import type { WebSocket } from 'ws'

export const HIGH_WATER_BYTES = 1024 * 1024
export const LOW_WATER_BYTES = 256 * 1024

export interface RelayStats {
  /** The most bytes ever queued inside the gateway towards one peer. */
  peakQueuedBytes: number
  /** Bytes relayed in both directions. */
  relayedBytes: number
}

export interface RelayEnd {
  socket: WebSocket
  /** True while this socket is not read because the other side is slow. */
  paused: boolean
}

/**
 * Forwards every binary frame from `from` to `to`, pausing `from` while `to` is backed up.
 * Returns what stops it (a session transferred to another technician).
 */
export function relayOneWay(
  from: RelayEnd,
  to: RelayEnd,
  stats: RelayStats,
  tap?: (frame: Buffer) => void,
): () => void {
  const resumeWhenDrained = () => {
    if (from.paused && to.socket.bufferedAmount <= LOW_WATER_BYTES) {
      from.paused = false
      from.socket.resume()
    }
  }
  const forward = (data: unknown, isBinary: boolean) => {
    // Text frames are control messages, which only the gateway sends; a peer's are dropped.
    if (!isBinary || to.socket.readyState !== to.socket.OPEN) return
    const frame = data as Buffer
    stats.relayedBytes += frame.length
    tap?.(frame)
    to.socket.send(frame, { binary: true }, resumeWhenDrained)
    const queued = to.socket.bufferedAmount
    if (queued > stats.peakQueuedBytes) stats.peakQueuedBytes = queued
    if (queued > HIGH_WATER_BYTES && !from.paused) {
      from.paused = true
      from.socket.pause()
    }
  }
  from.socket.on('message', forward)
  return () => {
    from.socket.off('message', forward)
    if (from.paused) {
      from.paused = false
      from.socket.resume()
    }
  }
}
