/**
 * Signed checkpoints: what the host says it sent (and received) on one shell or exec channel, as a
 * running SHA-256 per stream, signed with the host's SSH key of this session (the ed25519 key
 * whose public half the technician received inside the sealed pairing). The technician's
 * recording carries them, so `rescue recordings verify` can prove nothing was cut, changed or
 * added. Bytes are hashed as the UTF-8 of the text they decode to, which is exactly what an
 * asciicast event keeps (an invalid byte is U+FFFD on both sides). Imports core only.
 */
import { createHash, type Hash } from 'node:crypto'
import { StringDecoder } from 'node:string_decoder'
import ssh2 from 'ssh2'
import { z } from 'zod'

/** Host to technician: one JSON line per checkpoint, on `recording@rescue`. */
export const RECORDING_SUBSYSTEM = 'recording@rescue'
const SIGNING_CONTEXT = 'rescue-recording-checkpoint-v1\n'

/** The streams a checkpoint covers: stdout ("o"), stderr ("e"), and the technician's input ("i"). */
export const streams = ['o', 'e', 'i'] as const
export type StreamName = (typeof streams)[number]

const streamState = z.object({
  n: z.number().int().nonnegative(),
  h: z.string().regex(/^[0-9a-f]{64}$/),
})
export const checkpointPayload = z.object({
  v: z.literal(1),
  /** The session this channel belongs to. */
  s: z.string().max(64),
  /** The host's SSH channel number (the technician's channel's remote id). */
  ch: z.number().int().nonnegative(),
  kind: z.enum(['shell', 'exec']),
  seq: z.number().int().positive(),
  /** The host's clock, ISO-8601. */
  at: z.string().max(40),
  o: streamState,
  e: streamState,
  i: streamState,
  /** The channel closed: nothing more was sent after this one. */
  final: z.boolean(),
})
export type CheckpointPayload = z.infer<typeof checkpointPayload>

/** On the wire and in a recording: the exact payload text the host signed, and the signature. */
export const signedCheckpoint = z.object({
  payload: z.string().max(4096),
  sig: z.string().max(512),
})
export type SignedCheckpoint = z.infer<typeof signedCheckpoint>

/** The running hash of one stream, over the UTF-8 of its decoded text. */
export class StreamHash {
  private readonly hash: Hash = createHash('sha256')
  private readonly decoder = new StringDecoder('utf8')
  bytes = 0

  /** Feeds raw bytes; returns the text they decode to (a split character waits for its end). */
  push(chunk: Buffer): string {
    const text = this.decoder.write(chunk)
    if (text) {
      const bytes = Buffer.from(text, 'utf8')
      this.hash.update(bytes)
      this.bytes += bytes.length
    }
    return text
  }

  /** Flushes a character left incomplete at the end (it becomes U+FFFD, as in the recording). */
  end(): string {
    const text = this.decoder.end()
    if (text) {
      const bytes = Buffer.from(text, 'utf8')
      this.hash.update(bytes)
      this.bytes += bytes.length
    }
    return text
  }

  state(): { n: number; h: string } {
    return { n: this.bytes, h: this.hash.copy().digest('hex') }
  }
}

/** The host's side of one channel: hashes what crosses it and makes signed checkpoints. */
export class ChannelCheckpoints {
  readonly hashes: Record<StreamName, StreamHash> = {
    o: new StreamHash(),
    e: new StreamHash(),
    i: new StreamHash(),
  }
  private seq = 0
  private lastSigned = ''

  constructor(
    private readonly signer: ssh2.ParsedKey,
    private readonly context: { session: string; channel: number; kind: 'shell' | 'exec' },
  ) {}

  /** A checkpoint of everything so far; undefined when nothing changed since the last one. */
  make(final = false): SignedCheckpoint | undefined {
    if (final) for (const stream of streams) this.hashes[stream].end()
    const states = { o: this.hashes.o.state(), e: this.hashes.e.state(), i: this.hashes.i.state() }
    const key = JSON.stringify(states)
    if (!final && key === this.lastSigned) return undefined
    this.lastSigned = key
    const payload: CheckpointPayload = {
      v: 1,
      s: this.context.session,
      ch: this.context.channel,
      kind: this.context.kind,
      seq: ++this.seq,
      at: new Date().toISOString(),
      ...states,
      final,
    }
    const text = JSON.stringify(payload)
    const signature = this.signer.sign(Buffer.from(SIGNING_CONTEXT + text))
    if (signature instanceof Error) throw signature
    return { payload: text, sig: signature.toString('base64') }
  }
}

/** Parses the host's private key text once, for signing. */
export function checkpointSigner(privateKey: string): ssh2.ParsedKey {
  const parsed = ssh2.utils.parseKey(privateKey)
  if (parsed instanceof Error || Array.isArray(parsed)) throw new Error('unusable host key')
  return parsed
}

/** The payload when `checkpoint` is signed by `hostKey` (an `ssh-ed25519 ...` line); else undefined. */
export function openCheckpoint(checkpoint: SignedCheckpoint, hostKey: string): CheckpointPayload | undefined {
  const key = ssh2.utils.parseKey(hostKey)
  if (key instanceof Error || Array.isArray(key) || key.type !== 'ssh-ed25519') return undefined
  const valid = key.verify(
    Buffer.from(SIGNING_CONTEXT + checkpoint.payload),
    Buffer.from(checkpoint.sig, 'base64'),
  )
  if (valid !== true) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(checkpoint.payload)
  } catch {
    return undefined
  }
  const result = checkpointPayload.safeParse(parsed)
  return result.success ? result.data : undefined
}
