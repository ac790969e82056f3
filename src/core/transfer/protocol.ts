/**
 * The `transfer@rescue` SSH subsystem: what `rescue send` and `rescue get` need besides SFTP. One
 * JSON object per line each way; every request has an id and gets exactly one answer.
 *
 * - `plan`: ask the end user once for a whole folder transfer; while the channel stays open, the
 *   requests of that transfer inside the folder go through unasked.
 * - `expect`: the size and SHA-256 the file being uploaded to `path` must have; the host renames
 *   the upload into place only when it matches.
 * - `result`: how the host saw the last transfer of `path` end (bytes, SHA-256, complete).
 * - `hash`: SHA-256 of the first `length` bytes of a file opened for a transfer in this session
 *   (or inside a folder transfer the end user allowed): how a resume checks the part already there.
 */
import { StringDecoder } from 'node:string_decoder'
import { z } from 'zod'
import { refusalSchema } from '../consent/refusal.js'

export { TRANSFER_SUBSYSTEM } from '../ssh/subsystems.js'

/** Longest line either side accepts: requests and answers are small. */
export const MAX_LINE_BYTES = 64 * 1024

const sha256 = z.string().regex(/^[0-9a-f]{64}$/)
const remotePath = z.string().min(1).max(4096)
const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

export const transferRequest = z.discriminatedUnion('op', [
  z.object({
    id: z.number().int(),
    op: z.literal('plan'),
    direction: z.enum(['to-host', 'from-host']),
    root: remotePath,
    files: byteCount.optional(),
    bytes: byteCount.optional(),
  }),
  z.object({ id: z.number().int(), op: z.literal('expect'), path: remotePath, size: byteCount, sha256 }),
  z.object({ id: z.number().int(), op: z.literal('result'), path: remotePath }),
  z.object({ id: z.number().int(), op: z.literal('hash'), path: remotePath, length: byteCount }),
])
export type TransferRequest = z.infer<typeof transferRequest>

export const transferAnswer = z.union([
  z.object({
    id: z.number().int(),
    ok: z.literal(true),
    bytes: byteCount.optional(),
    sha256: sha256.or(z.literal('')).optional(),
    complete: z.boolean().optional(),
  }),
  z.object({
    id: z.number().int(),
    ok: z.literal(false),
    error: z.string().max(2000),
    denied: z.boolean().optional(),
    /** Why the host refused, typed (policy, the end user, no answer...), for the technician's message and exit code. */
    refusal: refusalSchema.optional(),
  }),
])
export type TransferAnswer = z.infer<typeof transferAnswer>

/** Parses one line; undefined when it is not valid JSON of the right shape. */
export function decodeLine<T>(schema: z.ZodType<T>, line: string): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(line))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

/** Splits a byte stream into lines, refusing any longer than MAX_LINE_BYTES. */
export class LineReader {
  private buffered = ''
  // A character split between two chunks is decoded whole, once its last byte arrives.
  private readonly decoder = new StringDecoder('utf8')

  /** The complete lines in `chunk`; throws when a line grows past the limit. */
  push(chunk: Buffer): string[] {
    this.buffered += this.decoder.write(chunk)
    const lines = this.buffered.split('\n')
    this.buffered = lines.pop() ?? ''
    const tooLong = (line: string) => Buffer.byteLength(line) > MAX_LINE_BYTES
    if (tooLong(this.buffered) || lines.some(tooLong)) throw new Error('a line is too long')
    return lines.filter((line) => line.length > 0)
  }
}
