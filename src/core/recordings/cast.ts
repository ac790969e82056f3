/**
 * Recordings in asciicast v2 (what asciinema plays): a JSON header line, then one JSON array per
 * event, `[seconds, code, data]`. "o" is output, "i" the technician's input (only when the policy
 * records it), "r" a resize ("COLSxROWS"). rescue adds two codes players skip: "e" for a
 * command's stderr (kept apart, as the host hashes it apart) and "c" for the host's signed
 * checkpoints (checkpoint.ts). The header's `rescue` field names the session, the channel and the
 * host key that signs the checkpoints. Imports core only.
 */
import fs from 'node:fs'
import { StringDecoder } from 'node:string_decoder'
import { z } from 'zod'
import { UserError } from '../errors.js'
import { signedCheckpoint, type SignedCheckpoint } from './checkpoint.js'

export interface RecordingInfo {
  session: string
  /** The host's SSH channel number, which its checkpoints name. */
  channel: number
  kind: 'shell' | 'exec'
  command?: string
  /** The host's SSH public key of this session (`ssh-ed25519 ...`): it signs the checkpoints. */
  hostKey: string
  /** Whether the technician's input is recorded ("i" events). */
  input: boolean
  technician?: string
}

const header = z.object({
  version: z.literal(2),
  width: z.number().int().positive().max(10_000),
  height: z.number().int().positive().max(10_000),
  timestamp: z.number().optional(),
  env: z.record(z.string(), z.string()).optional(),
  title: z.string().optional(),
  rescue: z
    .object({
      v: z.literal(1),
      session: z.string().max(64),
      channel: z.number().int().nonnegative(),
      kind: z.enum(['shell', 'exec']),
      command: z.string().max(10_000).optional(),
      hostKey: z.string().max(1000),
      input: z.boolean(),
      technician: z.string().max(320).optional(),
    })
    .optional(),
})
export type CastHeader = z.infer<typeof header>

export type CastEvent = [number, string, string]

/** The limit on one recording (what the gateway accepts too). */
export const MAX_RECORDING_BYTES = 64 * 1024 * 1024

/**
 * Writes one channel's recording as it happens: to a file when given (synchronously, so a full
 * or read-only disk fails the very write that hit it) and in memory for uploads.
 */
export class CastWriter {
  private readonly chunks: string[] = []
  private started = Date.now()
  private readonly decoders = {
    o: new StringDecoder('utf8'),
    e: new StringDecoder('utf8'),
    i: new StringDecoder('utf8'),
  }
  private fd?: number
  private size = 0
  closed = false

  /**
   * Makes the file (before the channel is asked for: a folder it cannot write to stops it there);
   * throws a UserError naming the file when it cannot.
   */
  constructor(private readonly file?: string) {
    if (file) {
      try {
        this.fd = fs.openSync(file, 'wx', 0o600)
      } catch (error) {
        throw writeError(file, error)
      }
    }
  }

  /** Writes the header, once the channel is open; times count from here. */
  begin(info: RecordingInfo, size: { cols: number; rows: number }): void {
    this.started = Date.now()
    const head: CastHeader = {
      version: 2,
      width: size.cols,
      height: size.rows,
      timestamp: Math.floor(this.started / 1000),
      env: { TERM: 'xterm-256color' },
      title:
        info.kind === 'exec'
          ? `rescue exec: ${info.command ?? ''}`
          : `rescue shell (session ${info.session})`,
      rescue: { v: 1, ...info },
    }
    this.append(JSON.stringify(head))
  }

  get bytes(): number {
    return this.size
  }

  output(stream: 'o' | 'e' | 'i', chunk: Buffer): void {
    const text = this.decoders[stream].write(chunk)
    if (text) this.event(stream, text)
  }

  resize(cols: number, rows: number): void {
    this.event('r', `${cols}x${rows}`)
  }

  checkpoint(checkpoint: SignedCheckpoint): void {
    this.event('c', JSON.stringify(checkpoint))
  }

  /** Flushes characters left split at the end; the file is closed (a final checkpoint may still follow). */
  finishStreams(): void {
    for (const stream of ['o', 'e', 'i'] as const) {
      const rest = this.decoders[stream].end()
      if (rest) this.event(stream, rest)
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.fd !== undefined) fs.closeSync(this.fd)
    this.fd = undefined
  }

  text(): string {
    return this.chunks.join('')
  }

  private event(code: string, data: string): void {
    if (this.closed) return
    const seconds = Math.round(Date.now() - this.started) / 1000
    this.append(JSON.stringify([seconds, code, data]))
  }

  private append(line: string): void {
    const text = `${line}\n`
    this.chunks.push(text)
    this.size += Buffer.byteLength(text)
    if (this.size > MAX_RECORDING_BYTES) {
      throw new UserError('failure', `the recording grew past ${MAX_RECORDING_BYTES} bytes`)
    }
    if (this.fd !== undefined) {
      try {
        fs.writeSync(this.fd, text)
      } catch (error) {
        throw writeError(this.file!, error)
      }
    }
  }
}

function writeError(file: string, error: unknown): UserError {
  const code = (error as { code?: string }).code
  const why =
    code === 'ENOSPC'
      ? 'the disk is full'
      : code === 'EROFS' || code === 'EACCES' || code === 'EPERM'
        ? 'the folder is read-only'
        : code === 'EEXIST'
          ? 'the file exists already'
          : code === 'ENOENT'
            ? 'the folder does not exist'
            : (error as Error).message
  return new UserError('failure', `the recording cannot be written to ${file}: ${why}`)
}

/** A parsed recording; throws a UserError naming the first bad line. */
export function parseCast(text: string): { header: CastHeader; events: CastEvent[]; complete: boolean } {
  const lines = text.split('\n')
  // A file written whole ends with a newline; a cut one may not.
  const complete = text.endsWith('\n')
  if (complete) lines.pop()
  const bad = (line: number, why: string) =>
    new UserError('failure', `not a valid asciicast v2 recording: line ${line} ${why}`)
  let first: unknown
  try {
    first = JSON.parse(lines[0] ?? '')
  } catch {
    throw bad(1, 'is not a JSON header')
  }
  const parsedHeader = header.safeParse(first)
  if (!parsedHeader.success)
    throw bad(1, `is not an asciicast v2 header (${parsedHeader.error.issues[0]?.message})`)
  const events: CastEvent[] = []
  let last = 0
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index]!
    if (line.trim() === '' && index === lines.length - 1) continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      throw bad(index + 1, index === lines.length - 1 ? 'is cut short' : 'is not JSON')
    }
    if (
      !Array.isArray(value) ||
      value.length !== 3 ||
      typeof value[0] !== 'number' ||
      !Number.isFinite(value[0]) ||
      value[0] < 0 ||
      typeof value[1] !== 'string' ||
      typeof value[2] !== 'string'
    ) {
      throw bad(index + 1, 'is not an event [time, code, data]')
    }
    if (value[0] < last) throw bad(index + 1, 'goes back in time')
    last = value[0]
    events.push(value as CastEvent)
  }
  return { header: parsedHeader.data, events, complete }
}

/** The signed checkpoint in a "c" event's data, or undefined when it is not one. */
export function checkpointOf(event: CastEvent): SignedCheckpoint | undefined {
  if (event[1] !== 'c') return undefined
  try {
    const parsed = signedCheckpoint.safeParse(JSON.parse(event[2]))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}
