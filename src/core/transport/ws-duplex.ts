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

export class WebSocketDuplex extends Duplex {
  private paused = false

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
    this.socket.send(chunk, { binary: true }, (error) => {
      if (error) this.destroy(error)
    })
    if (this.socket.bufferedAmount < SEND_HIGH_WATER) return callback()
    // The peer (or the gateway) reads slower than SSH writes: hold SSH back until the socket drains.
    const wait = setInterval(() => {
      if (this.socket.bufferedAmount < SEND_HIGH_WATER || this.socket.readyState !== this.socket.OPEN) {
        clearInterval(wait)
        callback()
      }
    }, 5)
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback()
  }

  /** ssh2 asks its socket for this; the gateway's TCP socket already has it set. */
  setNoDelay(): this {
    return this
  }
}
