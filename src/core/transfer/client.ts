/**
 * The technician's side of `transfer@rescue` (see protocol.ts): requests with ids, answers
 * decoded as hostile input, and every waiting request failed when the channel goes away.
 */
import type ssh2 from 'ssh2'
import type { ClientChannel } from 'ssh2'
import { refusalError } from '../consent/refusal.js'
import { UserError } from '../errors.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import {
  decodeLine,
  LineReader,
  TRANSFER_SUBSYSTEM,
  transferAnswer,
  type TransferAnswer,
  type TransferRequest,
} from './protocol.js'

type RequestBody = TransferRequest extends infer R
  ? R extends TransferRequest
    ? Omit<R, 'id'>
    : never
  : never
type Success = Extract<TransferAnswer, { ok: true }>

/** What the host hashed: `bytes` bytes from the start of the file. */
export interface HostHash {
  bytes: number
  sha256: string
}

export class TransferChannel {
  private readonly pending = new Map<
    number,
    { resolve(answer: TransferAnswer): void; reject(error: Error): void }
  >()
  private nextId = 1
  private failure?: Error

  private constructor(private readonly channel: ClientChannel) {
    const reader = new LineReader()
    channel.on('data', (chunk: Buffer) => {
      let lines: string[]
      try {
        lines = reader.push(chunk)
      } catch {
        return this.fail('the host sent a line too long to be an answer')
      }
      for (const line of lines) {
        const answer = decodeLine(transferAnswer, line)
        const waiting = answer && this.pending.get(answer.id)
        if (!answer || !waiting) return this.fail('the host sent an answer that makes no sense')
        this.pending.delete(answer.id)
        waiting.resolve(answer)
      }
    })
    channel.stderr.resume()
    channel.on('close', () => this.fail('the session closed the transfer channel'))
  }

  /** Opens the subsystem; the host refuses it only when the session is closing. */
  static open(client: ssh2.Client): Promise<TransferChannel> {
    return new Promise((resolve, reject) => {
      client.subsys(TRANSFER_SUBSYSTEM, (error, channel) => {
        if (error)
          reject(new UserError('connectionLost', 'the host would not open a file transfer', error.message))
        else resolve(new TransferChannel(channel))
      })
    })
  }

  /** Asks the end user once for a whole folder; throws a `denied` UserError when they say no. */
  async plan(direction: 'to-host' | 'from-host', root: string, counts?: { files: number; bytes: number }) {
    await this.ask({ op: 'plan', direction, root, ...(counts ?? {}) })
  }

  /** Tells the host what the upload to `path` must be before it is closed. */
  async expect(path: string, size: number, sha256: string): Promise<void> {
    await this.ask({ op: 'expect', path, size, sha256 })
  }

  /** How the host saw the last transfer of `path` end. */
  async result(path: string): Promise<HostHash & { complete: boolean }> {
    const answer = await this.ask({ op: 'result', path })
    return { bytes: answer.bytes ?? 0, sha256: answer.sha256 ?? '', complete: answer.complete === true }
  }

  /** SHA-256 of the first `length` bytes of `path` on the host. */
  async hash(path: string, length: number): Promise<HostHash> {
    const answer = await this.ask({ op: 'hash', path, length })
    return { bytes: answer.bytes ?? 0, sha256: answer.sha256 ?? '' }
  }

  close(): void {
    this.channel.close()
  }

  private async ask(body: RequestBody): Promise<Success> {
    if (this.failure) throw this.failure
    const id = this.nextId++
    const answer = await new Promise<TransferAnswer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.channel.write(`${JSON.stringify({ ...body, id })}\n`)
    })
    if (answer.ok) return answer
    if (answer.refusal) throw refusalError(answer.refusal)
    if (answer.denied) throw new UserError('denied', 'denied by the end user')
    throw new UserError('failure', `the host says: ${sanitizeForTerminal(answer.error, 500)}`)
  }

  private fail(reason: string): void {
    this.failure ??= new UserError('connectionLost', reason)
    for (const waiting of this.pending.values()) waiting.reject(this.failure)
    this.pending.clear()
    this.channel.close()
  }
}
