/**
 * The byte stream SSH runs on, made to outlive the link under it. Every byte gets an offset; the
 * peer acknowledges what it has received, and what it has not is kept (up to REPLAY_LIMIT_BYTES)
 * so that after a reconnect each side resends exactly what the other lacks. SSH above never
 * notices a drop: while the link is gone its writes wait in the replay buffer, and past the limit
 * they are held back (flow control), never buffered without bound.
 *
 * Frames (binary, after the sealed pairing; docs/protocol.md):
 *   DATA   0x01 | offset u64 | bytes          the stream from `offset` on
 *   ACK    0x02 | offset u64                  everything before `offset` arrived
 *   DATA+ACK 0x04 | offset u64 | ack u64 | bytes   both at once: the ACK rides on data
 *   RESUME 0x03 | offset u64 | mac 32         first frame on a new link: what this side has
 *                                             received, with HMAC-SHA-256 under the pairing's
 *                                             resume key, so only the paired peer can make it
 * A frame that breaks these rules (a gap, an ack of bytes never sent, a bad MAC) destroys the
 * stream with an error: the session then ends, it never delivers wrong bytes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { Duplex } from 'node:stream'

/** The most bytes kept for a resend per direction; past it SSH's writes wait. */
export const REPLAY_LIMIT_BYTES = 4 * 1024 * 1024
/** Above this much unsent data in the link, writes wait for it to drain. */
const SEND_HIGH_WATER = 1024 * 1024
/** The most one DATA frame carries: well under the gateway's 2 MiB frame limit. */
const MAX_BATCH_BYTES = 256 * 1024
/**
 * Acknowledge at once after this much, else a little later (one ack covers a burst). A quarter
 * of the replay buffer: the sender is never held back waiting for one, and a bulk transfer sends
 * a fourth as many small frames back (each a socket write on every hop). Data going the other way
 * within the delay carries the ack instead (DATA+ACK): an SSH request and its answer then cost no
 * ACK frame of their own, which would otherwise cross every hop and wake every process again.
 */
const ACK_EVERY_BYTES = 1024 * 1024
const ACK_DELAY_MS = 20

const DATA = 0x01
const ACK = 0x02
/** The first byte of a RESUME frame (the session layer watches for it to follow a switch of link). */
export const RESUME = 0x03
const DATA_ACK = 0x04
const HEADER = 9
const DATA_ACK_HEADER = HEADER + 8
const MAC_BYTES = 32

/** What the stream needs of a link: a WebSocket satisfies it. */
export interface FrameLink {
  send(frame: Buffer, options: { binary: true }, callback?: (error?: Error) => void): void
  readonly bufferedAmount: number
  pause(): void
  resume(): void
}

export interface ResumableStreamOptions {
  /** This side's role, bound into its RESUME MAC (a reflected RESUME does not verify). */
  role: 'host' | 'technician'
  /** 32 bytes from the pairing that only the two paired sides know. */
  resumeKey: Uint8Array
}

export class ResumableStream extends Duplex {
  private link?: FrameLink
  /** True once the peer's RESUME on this link checked out (or on the first link, at once). */
  private live = false
  private readPaused = false
  /** Bytes SSH has written so far: the offset of the next DATA frame. */
  private sent = 0
  /** Bytes the peer confirmed; everything before it can go. */
  private peerHas = 0
  /** DATA (or DATA+ACK) frames not yet acknowledged, oldest first, whole (header included). */
  private unacked: Buffer[] = []
  private unackedBytes = 0
  /** Bytes delivered to SSH, in order. */
  private received = 0
  private acknowledged = 0
  private ackTimer?: NodeJS.Timeout
  private batch: Buffer[] = []
  private batchBytes = 0
  /** SSH's write callback, held while the replay buffer or the link is full. */
  private heldWrite?: () => void
  private drainPoll?: NodeJS.Timeout

  constructor(private readonly options: ResumableStreamOptions) {
    super({ highWaterMark: 256 * 1024 })
  }

  /** Bytes sent and not yet confirmed by the peer (what a resume would resend). */
  get pendingBytes(): number {
    return this.sent - this.peerHas + this.batchBytes
  }

  /** The first link, right after pairing: both sides start at offset 0, nothing to resume. */
  start(link: FrameLink): void {
    this.link = link
    this.live = true
  }

  /** The link is gone: writes wait in the replay buffer until `rejoin` gives a new one. */
  linkLost(): void {
    this.link = undefined
    this.live = false
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    this.readPaused = false
  }

  /**
   * A new link (or the same socket, re-joined to a new peer link): sends this side's RESUME, and
   * goes live when the peer's arrives and checks out. Until then the peer's DATA and ACK frames
   * are stale (sent before the drop) and ignored: the peer resends whatever this side lacks.
   */
  rejoin(link: FrameLink): void {
    this.linkLost()
    this.link = link
    const frame = Buffer.alloc(HEADER + MAC_BYTES)
    frame[0] = RESUME
    frame.writeBigUInt64BE(BigInt(this.received), 1)
    this.resumeMac(this.options.role, this.received).copy(frame, HEADER)
    this.acknowledged = this.received
    link.send(frame, { binary: true })
  }

  /** One binary frame from the peer. */
  pushFrame(frame: Buffer): void {
    if (this.destroyed) return
    if (frame.length < HEADER) return this.violation('a frame too short for its header')
    const type = frame[0]
    const offset = Number(frame.readBigUInt64BE(1))
    if (type === RESUME) return this.onResume(frame, offset)
    if (!this.live) return
    if (type === DATA) return this.onData(frame.subarray(HEADER), offset)
    if (type === ACK && frame.length === HEADER) return this.onAck(offset)
    if (type === DATA_ACK && frame.length >= DATA_ACK_HEADER) {
      this.onAck(Number(frame.readBigUInt64BE(HEADER)))
      if (this.destroyed) return
      return this.onData(frame.subarray(DATA_ACK_HEADER), offset)
    }
    this.violation(`an unknown frame (type ${type})`)
  }

  private onData(payload: Buffer, offset: number): void {
    const end = offset + payload.length
    if (end <= this.received) return // a resend of what already arrived
    if (offset > this.received) return this.violation('a gap in the stream')
    const fresh = offset === this.received ? payload : payload.subarray(this.received - offset)
    this.received = end
    if (!this.push(fresh) && !this.readPaused && this.link) {
      this.readPaused = true
      this.link.pause()
    }
    if (this.received - this.acknowledged >= ACK_EVERY_BYTES) this.sendAck()
    else this.ackTimer ??= setTimeout(() => this.sendAck(), ACK_DELAY_MS)
  }

  private onAck(offset: number): void {
    if (offset > this.sent) return this.violation('an acknowledgement of bytes never sent')
    if (offset <= this.peerHas) return
    this.peerHas = offset
    this.dropAcknowledged()
    this.releaseWrite()
  }

  private onResume(frame: Buffer, offset: number): void {
    if (frame.length !== HEADER + MAC_BYTES || !this.link) return this.violation('a malformed resume')
    const peer = this.options.role === 'host' ? 'technician' : 'host'
    const mac = frame.subarray(HEADER)
    if (!timingSafeEqual(mac, this.resumeMac(peer, offset))) {
      return this.violation('a resume that does not come from the paired peer')
    }
    if (offset > this.sent || offset < this.peerHas)
      return this.violation('a resume from an impossible offset')
    this.peerHas = offset
    this.dropAcknowledged()
    this.live = true
    // Everything the peer lacks, in order; the first frame may start inside one already sent. An
    // ack a resent DATA+ACK carries is old, so at most what the peer already knows: it ignores it.
    for (const old of this.unacked) {
      const start = Number(old.readBigUInt64BE(1))
      this.link.send(
        start >= offset ? old : dataFrame(offset, old.subarray(headerOf(old) + (offset - start))),
        { binary: true },
      )
    }
    this.flush()
    this.releaseWrite()
    this.emit('rejoined')
  }

  private resumeMac(role: string, offset: number): Buffer {
    return createHmac('sha256', this.options.resumeKey).update(`rescue-resume-v1 ${role} ${offset}`).digest()
  }

  private sendAck(): void {
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    if (!this.live || !this.link || this.acknowledged === this.received) return
    const frame = Buffer.alloc(HEADER)
    frame[0] = ACK
    frame.writeBigUInt64BE(BigInt(this.received), 1)
    this.acknowledged = this.received
    this.link.send(frame, { binary: true })
  }

  private dropAcknowledged(): void {
    while (this.unacked.length > 0) {
      const first = this.unacked[0]!
      const end = Number(first.readBigUInt64BE(1)) + first.length - headerOf(first)
      if (end > this.peerHas) break
      this.unacked.shift()
      this.unackedBytes -= first.length - headerOf(first)
    }
  }

  override _read(): void {
    if (this.readPaused) {
      this.readPaused = false
      this.link?.resume()
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // SSH writes one packet per call: packets written in the same turn of the event loop go out as
    // one frame, so bulk data pays framing and relaying once per batch, while a lone keystroke
    // still leaves at once (a microtask later).
    this.batch.push(chunk)
    this.batchBytes += chunk.length
    if (this.batchBytes >= MAX_BATCH_BYTES) this.flush()
    else if (this.batch.length === 1) queueMicrotask(() => this.flush())
    if (this.canTakeMore()) return callback()
    this.heldWrite = () => callback()
    this.drainPoll ??= setInterval(() => this.releaseWrite(), 5)
  }

  private canTakeMore(): boolean {
    if (this.unackedBytes + this.batchBytes >= REPLAY_LIMIT_BYTES) return false
    const queued = this.live && this.link ? this.link.bufferedAmount : 0
    return queued + this.batchBytes < SEND_HIGH_WATER
  }

  private releaseWrite(): void {
    if (!this.heldWrite || !this.canTakeMore()) return
    const callback = this.heldWrite
    this.heldWrite = undefined
    clearInterval(this.drainPoll)
    this.drainPoll = undefined
    callback()
  }

  private flush(): void {
    if (this.batch.length === 0) return
    const sending = this.live && this.link !== undefined
    // What arrived since the last ack rides on this frame; the ack's own timer is then not needed.
    const ack = sending && this.received > this.acknowledged ? this.received : undefined
    const frame = dataFrame(this.sent, this.batch, this.batchBytes, ack)
    this.batch = []
    this.unacked.push(frame)
    this.unackedBytes += this.batchBytes
    this.sent += this.batchBytes
    this.batchBytes = 0
    if (ack !== undefined) {
      this.acknowledged = ack
      clearTimeout(this.ackTimer)
      this.ackTimer = undefined
    }
    if (sending) this.link!.send(frame, { binary: true })
  }

  private violation(what: string): void {
    this.destroy(new Error(`the peer sent ${what}`))
  }

  /** The session is over: SSH sees the end of its stream. */
  endOfStream(): void {
    this.linkLost()
    clearInterval(this.drainPoll)
    if (!this.destroyed) this.push(null)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flush()
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.ackTimer)
    clearInterval(this.drainPoll)
    this.unacked = []
    callback(error)
  }

  /** ssh2 asks its socket for this; the gateway's TCP socket already has it set. */
  setNoDelay(): this {
    return this
  }
}

/** The header's length of a DATA or DATA+ACK frame kept for a resend. */
const headerOf = (frame: Buffer) => (frame[0] === DATA_ACK ? DATA_ACK_HEADER : HEADER)

function dataFrame(offset: number, payload: Buffer | Buffer[], length?: number, ack?: number): Buffer {
  const parts = Array.isArray(payload) ? payload : [payload]
  const size = length ?? parts.reduce((sum, part) => sum + part.length, 0)
  const header = ack === undefined ? HEADER : DATA_ACK_HEADER
  const frame = Buffer.allocUnsafe(header + size)
  frame[0] = ack === undefined ? DATA : DATA_ACK
  frame.writeBigUInt64BE(BigInt(offset), 1)
  if (ack !== undefined) frame.writeBigUInt64BE(BigInt(ack), HEADER)
  let at = header
  for (const part of parts) {
    part.copy(frame, at)
    at += part.length
  }
  return frame
}
