/**
 * A byte stream over the relayed WebSocket, for SSH to run on once the sealed pairing is done.
 * Binary frames from the peer are fed in by the session (which still reads control messages);
 * writes go out as binary frames. Flow control both ways: the socket stops being read while SSH
 * has not consumed what arrived, and writes wait while the socket holds more than a bound unsent.
 */
import { Duplex } from 'node:stream'
import type WebSocket from 'ws'

/** Above this much unsent data, writes wait for the socket to drain. */
const SEND_HIGH_WATER = 1024 * 1024
/** The most one frame carries: well under the gateway's 2 MiB frame limit. */
const MAX_BATCH_BYTES = 256 * 1024

export class WebSocketDuplex extends Duplex {
  private paused = false
  /** SSH's writes waiting to go out together as one frame. */
  private batch: Buffer[] = []
  private batchBytes = 0

  constructor(private readonly socket: WebSocket) {
    super({ highWaterMark: 256 * 1024 })
  }

  /** Delivers one binary frame from the peer. */
  pushFrame(frame: Uint8Array): void {
    if (this.destroyed) return
    if (!this.push(frame) && !this.paused) {
      this.paused = true
      this.socket.pause()
    }
  }

  /** The peer is gone: SSH sees the end of its stream. */
  endOfStream(): void {
    if (!this.destroyed) this.push(null)
  }

  override _read(): void {
    if (this.paused) {
      this.paused = false
      this.socket.resume()
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.readyState !== this.socket.OPEN) return callback(new Error('the session has ended'))
    // SSH writes one packet per call: packets written in the same turn of the event loop go out as
    // one frame, so bulk data pays framing, masking and the gateway's relaying once per batch, while
    // a lone keystroke still leaves at once (a microtask later).
    this.batch.push(chunk)
    this.batchBytes += chunk.length
    if (this.batchBytes >= MAX_BATCH_BYTES) this.flush()
    else if (this.batch.length === 1) queueMicrotask(() => this.flush())
    if (this.socket.bufferedAmount + this.batchBytes < SEND_HIGH_WATER) return callback()
    // The peer (or the gateway) reads slower than SSH writes: hold SSH back until the socket drains.
    const wait = setInterval(() => {
      if (this.socket.bufferedAmount < SEND_HIGH_WATER || this.socket.readyState !== this.socket.OPEN) {
        clearInterval(wait)
        callback()
      }
    }, 5)
  }

  private flush(): void {
    if (this.batch.length === 0) return
    const frame = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes)
    this.batch = []
    this.batchBytes = 0
    if (this.socket.readyState !== this.socket.OPEN) return
    this.socket.send(frame, { binary: true }, (error) => {
      if (error) this.destroy(error)
    })
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flush()
    callback()
  }

  /** ssh2 asks its socket for this; the gateway's TCP socket already has it set. */
  setNoDelay(): this {
    return this
  }
}
