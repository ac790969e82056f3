/**
 * The direct peer-to-peer link: a TCP connection between the two paired sides that carries the
 * resumable stream's frames instead of the gateway's relay (docs/protocol.md, "Direct link").
 * The host listens on an ephemeral port for at most DIRECT_WINDOW_MS and offers its addresses
 * inside its sealed hello; the technician tries them one by one within the same window. Both then
 * prove, over the fresh TCP connection, that they hold the pairing's key:
 *
 *   technician -> host   HELLO      "RSD1" | nonceT 32
 *   host -> technician   CHALLENGE  nonceH 32 | HMAC(directKey, "host", sessionId, nonceT, nonceH)
 *   technician -> host   PROOF      HMAC(directKey, "technician", sessionId, nonceT, nonceH)
 *   host -> technician   OK         0x01
 *
 * Every frame, then and after, is a u32 big-endian length and that many bytes. Both nonces are
 * fresh, the role is in each MAC, and the key is derived from the pairing's resume key (which the
 * gateway never has): nothing seen on the relay or on an earlier connection can be replayed, and a
 * host's proof cannot be reflected as a technician's. The link carries no secret of its own: SSH
 * above encrypts and authenticates every byte, as it does on the relay. Imports nothing of ours.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import net from 'node:net'
import os from 'node:os'
import type { FrameLink } from './resumable-stream.js'

/** How long the host's port stays open, and the technician tries: the design's 10 s. */
export const DIRECT_WINDOW_MS = 10_000
/** How long one candidate address (connect and handshake) may take before the next is tried. */
const TRY_TIMEOUT_MS = 3000
/** How long a connection on the host's port may take to prove itself. */
const HANDSHAKE_TIMEOUT_MS = 3000
/** The handshake's frames are all under this; anything longer is not a rescue peer. */
const HANDSHAKE_MAX_BYTES = 64
/** A stream frame is at most 256 KiB of data (resumable-stream.ts) plus its header. */
const FRAME_MAX_BYTES = 4 * 1024 * 1024
/** The most addresses a host offers (and a technician accepts). */
export const MAX_CANDIDATES = 16

const MAGIC = Buffer.from('RSD1')
const NONCE_BYTES = 32
const MAC_BYTES = 32
const OK = 0x01

/** One address the host may be reached at. */
export interface DirectCandidate {
  address: string
  port: number
}

export type DirectRole = 'host' | 'technician'

/** The key both sides prove the link with: from the pairing's resume key, for this use only. */
export function directKey(resumeKey: Uint8Array): Buffer {
  return createHmac('sha256', resumeKey).update('rescue-direct-key-v1').digest()
}

function proofMac(key: Buffer, role: DirectRole, sessionId: string, nonceT: Buffer, nonceH: Buffer): Buffer {
  return createHmac('sha256', key)
    .update(`rescue-direct-v1 ${role} ${sessionId}\n`)
    .update(nonceT)
    .update(nonceH)
    .digest()
}

/**
 * Every address of this computer's interfaces at `port`, loopback last (it reaches the host only
 * when both sides run on one computer; elsewhere it is refused at once). Link-local IPv6 needs a
 * zone the peer cannot know: left out.
 */
export function localCandidates(port: number): DirectCandidate[] {
  const external: DirectCandidate[] = []
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const info of addresses ?? []) {
      if (info.internal || (info.family === 'IPv6' && info.address.toLowerCase().startsWith('fe80'))) continue
      external.push({ address: info.address, port })
    }
  }
  return [...external.slice(0, MAX_CANDIDATES - 1), { address: '127.0.0.1', port }]
}

/**
 * A TCP socket as a FrameLink: length-prefixed frames, Nagle off (a keystroke leaves at once).
 * Frames that arrive before anyone listens wait for `onFrame`.
 */
export class DirectLink implements FrameLink {
  private chunks: Buffer[] = []
  private buffered = 0
  private maxFrame = HANDSHAKE_MAX_BYTES
  private waiting: Buffer[] = []
  private frameHandler?: (frame: Buffer) => void
  private closeHandlers: ((reason: string) => void)[] = []
  private closedWith?: string

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true)
    socket.on('data', (data: Buffer) => this.onData(data))
    socket.on('error', (error) => this.close(`the direct link failed: ${error.message}`))
    socket.on('close', () => this.close('the direct link closed'))
  }

  /** The peer's address, as `address:port`. */
  get remote(): string {
    const { remoteAddress, remotePort } = this.socket
    return remoteAddress?.includes(':')
      ? `[${remoteAddress}]:${remotePort}`
      : `${remoteAddress}:${remotePort}`
  }

  get bufferedAmount(): number {
    return this.socket.writableLength
  }

  get closed(): boolean {
    return this.closedWith !== undefined
  }

  send(frame: Buffer, _options?: { binary: true }, callback?: (error?: Error) => void): void {
    if (this.closed) return callback?.(new Error('the direct link is closed'))
    const header = Buffer.allocUnsafe(4)
    header.writeUInt32BE(frame.length, 0)
    // One writev for header and frame.
    this.socket.cork()
    this.socket.write(header)
    this.socket.write(frame, callback && ((error) => callback(error ?? undefined)))
    this.socket.uncork()
  }

  pause(): void {
    this.socket.pause()
  }

  resume(): void {
    this.socket.resume()
  }

  /** Every later frame goes to `handler`, the ones that came meanwhile first. */
  onFrame(handler: (frame: Buffer) => void): void {
    this.frameHandler = handler
    while (this.waiting.length > 0 && this.frameHandler === handler && !this.closed) {
      handler(this.waiting.shift()!)
    }
  }

  /** Later frames wait until `onFrame` is called again. */
  holdFrames(): void {
    this.frameHandler = undefined
  }

  /** Called once, with why, when the link goes (at once if it already has). */
  onClose(handler: (reason: string) => void): void {
    if (this.closedWith !== undefined) handler(this.closedWith)
    else this.closeHandlers.push(handler)
  }

  /** Past the handshake: stream frames may be long. */
  allowStreamFrames(): void {
    this.maxFrame = FRAME_MAX_BYTES
  }

  close(reason: string): void {
    if (this.closedWith !== undefined) return
    this.closedWith = reason
    this.frameHandler = undefined
    this.waiting = []
    this.socket.destroy()
    for (const handler of this.closeHandlers.splice(0)) handler(reason)
  }

  private onData(data: Buffer): void {
    this.chunks.push(data)
    this.buffered += data.length
    while (!this.closed && this.buffered >= 4) {
      const head = this.chunks[0]!.length >= 4 ? this.chunks[0]! : Buffer.concat(this.chunks)
      const length = head.readUInt32BE(0)
      if (length > this.maxFrame) return this.close(`a frame of ${length} bytes, over the limit`)
      if (this.buffered < 4 + length) return
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered)
      const frame = all.subarray(4, 4 + length)
      const rest = all.subarray(4 + length)
      this.chunks = rest.length > 0 ? [rest] : []
      this.buffered = rest.length
      if (this.frameHandler) this.frameHandler(frame)
      else this.waiting.push(frame)
    }
  }
}

/** Waits for the next frame on a link in its handshake, or fails with why. */
function nextFrame(link: DirectLink, timeoutMs: number, missing = 'no answer in time'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(missing)), timeoutMs)
    link.onClose((reason) => {
      clearTimeout(timer)
      reject(new Error(reason))
    })
    link.onFrame((frame) => {
      clearTimeout(timer)
      link.holdFrames()
      resolve(frame)
    })
  })
}

export interface DirectListenOptions {
  resumeKey: Uint8Array
  sessionId: string
  /** The link is up and proven: the listener has closed. */
  onLink(link: DirectLink): void
  /** A connection was refused (not the peer, a bad proof, one too many): for the audit log. */
  onRefused(from: string, reason: string): void
  /** The window passed with no link. */
  onTimeout(): void
  windowMs?: number
}

export interface DirectListener {
  port: number
  close(): void
}

/**
 * The host's side: listens on an ephemeral port on every interface until one connection proves
 * itself or the window passes. One connection is checked at a time; any other is refused.
 */
export async function listenDirect(options: DirectListenOptions): Promise<DirectListener> {
  const key = directKey(options.resumeKey)
  let checking: DirectLink | undefined
  let done = false
  const server = net.createServer({ pauseOnConnect: false }, (socket) => {
    const link = new DirectLink(socket)
    const from = link.remote
    if (done || checking) {
      link.close('refused')
      return options.onRefused(from, done ? 'the direct link is already up' : 'a second connection')
    }
    checking = link
    void prove(link, key, options.sessionId).then(
      () => {
        checking = undefined
        if (done) return link.close('refused')
        finish()
        link.allowStreamFrames()
        options.onLink(link)
      },
      (error: Error) => {
        checking = undefined
        link.close('refused')
        options.onRefused(from, error.message)
      },
    )
  })
  server.on('error', () => undefined)
  const timer = setTimeout(() => {
    if (done) return
    finish()
    checking?.close('the direct window passed')
    options.onTimeout()
  }, options.windowMs ?? DIRECT_WINDOW_MS)
  const finish = () => {
    done = true
    clearTimeout(timer)
    server.close()
  }
  await listenAnywhere(server)
  const address = server.address()
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close() {
      if (done) return
      finish()
      checking?.close('the session ended')
    },
  }
}

/** Every interface, IPv6 and IPv4 where the system has both, else IPv4 alone. */
function listenAnywhere(server: net.Server): Promise<void> {
  const listen = (host: string) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port: 0 }, () => {
        server.off('error', reject)
        resolve()
      })
    })
  return listen('::').catch(() => listen('0.0.0.0'))
}

/** The host's half of the handshake; rejects with why the connection is not the peer. */
async function prove(link: DirectLink, key: Buffer, sessionId: string): Promise<void> {
  const hello = await nextFrame(link, HANDSHAKE_TIMEOUT_MS, 'no rescue handshake in time')
  if (hello.length !== MAGIC.length + NONCE_BYTES || !hello.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error('not a rescue handshake')
  }
  const nonceT = Buffer.from(hello.subarray(MAGIC.length))
  const nonceH = randomBytes(NONCE_BYTES)
  link.send(Buffer.concat([nonceH, proofMac(key, 'host', sessionId, nonceT, nonceH)]))
  const proof = await nextFrame(link, HANDSHAKE_TIMEOUT_MS, 'no proof in time')
  const expected = proofMac(key, 'technician', sessionId, nonceT, nonceH)
  if (proof.length !== MAC_BYTES || !timingSafeEqual(proof, expected)) {
    throw new Error('a proof that does not come from the paired technician')
  }
  link.send(Buffer.from([OK]))
}

export interface DirectDialOptions {
  candidates: readonly DirectCandidate[]
  resumeKey: Uint8Array
  sessionId: string
  windowMs?: number
}

/**
 * The technician's side: tries each candidate in turn (connect and handshake, a few seconds each,
 * all within the window) and returns the first proven link, or undefined with the last failure.
 */
export async function dialDirect(
  options: DirectDialOptions,
  isCancelled: () => boolean = () => false,
): Promise<{ link?: DirectLink; failure: string }> {
  const key = directKey(options.resumeKey)
  const deadline = Date.now() + (options.windowMs ?? DIRECT_WINDOW_MS)
  let failure = 'the end user offered no address'
  for (const candidate of options.candidates.slice(0, MAX_CANDIDATES)) {
    const left = deadline - Date.now()
    if (left <= 0 || isCancelled()) break
    try {
      const link = await tryCandidate(candidate, key, options.sessionId, Math.min(TRY_TIMEOUT_MS, left))
      if (isCancelled()) {
        link.close('the session moved on')
        break
      }
      return { link, failure: '' }
    } catch (error) {
      failure = `${candidate.address}: ${(error as Error).message}`
    }
  }
  return { failure }
}

async function tryCandidate(
  candidate: DirectCandidate,
  key: Buffer,
  sessionId: string,
  timeoutMs: number,
): Promise<DirectLink> {
  const socket = net.connect({ host: candidate.address, port: candidate.port })
  const link = new DirectLink(socket)
  const timer = setTimeout(() => link.close('no answer in time'), timeoutMs)
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      link.onClose((reason) => reject(new Error(reason)))
    })
    const nonceT = randomBytes(NONCE_BYTES)
    link.send(Buffer.concat([MAGIC, nonceT]))
    const challenge = await nextFrame(link, timeoutMs)
    const nonceH = challenge.subarray(0, NONCE_BYTES)
    const mac = challenge.subarray(NONCE_BYTES)
    if (
      challenge.length !== NONCE_BYTES + MAC_BYTES ||
      !timingSafeEqual(mac, proofMac(key, 'host', sessionId, nonceT, nonceH))
    ) {
      throw new Error('not the paired end user')
    }
    link.send(proofMac(key, 'technician', sessionId, nonceT, nonceH))
    const ok = await nextFrame(link, timeoutMs)
    if (ok.length !== 1 || ok[0] !== OK) throw new Error('not the paired end user')
    clearTimeout(timer)
    link.allowStreamFrames()
    return link
  } catch (error) {
    clearTimeout(timer)
    link.close('refused')
    throw error
  }
}
