/**
 * The technician's side of `file-stream@rescue` (see stream.ts): one channel per file, for the
 * bytes of a file the SFTP channel has open. Answers from the host are hostile input: a count that
 * makes no sense, or more bytes than asked for, fails the copy.
 */
import type ssh2 from 'ssh2'
import type { ClientChannel } from 'ssh2'
import { UserError } from '../errors.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { Blocks } from './blocks.js'
import { LineReader } from './protocol.js'
import { FILE_STREAM_SUBSYSTEM, type StreamHeader } from './stream.js'

/** Blocks read from the local file for an upload: two, one filled while the other is sent. */
const BLOCK = 1024 * 1024
/** A download stops reading the channel while this much waits for the disk: SSH's window then holds the host. */
const MAX_WAITING = 4 * 1024 * 1024

interface Outcome {
  code?: number
  message: string
}

export class FileStream {
  private readonly outcome: Promise<Outcome>

  private constructor(private readonly channel: ClientChannel) {
    let message = ''
    let code: number | undefined
    channel.stderr.on('data', (chunk: Buffer) => {
      if (message.length < 2000) message += chunk.toString('utf8')
    })
    channel.on('exit', (exitCode: unknown) => {
      code = typeof exitCode === 'number' ? exitCode : -1
    })
    // The host ends its side after the exit status: then this side is done too.
    channel.on('end', () => channel.close())
    channel.on('error', () => {})
    this.outcome = new Promise((resolve) => channel.once('close', () => resolve({ code, message })))
  }

  /** Opens the channel; undefined when the host refuses it (a rescue from before it), so SFTP does the copy. */
  static open(client: ssh2.Client): Promise<FileStream | undefined> {
    return new Promise((resolve) => {
      try {
        client.subsys(FILE_STREAM_SUBSYSTEM, (error, channel) =>
          resolve(error ? undefined : new FileStream(channel)),
        )
      } catch {
        // ssh2 throws when the connection is already gone: SFTP will say so.
        resolve(undefined)
      }
    })
  }

  /**
   * Sends `length` bytes to the open upload `handle` from `offset`. `fill(block)` puts the next
   * bytes in `block` and says how many; `onWritten(bytes)` hears how many of them the host has on
   * disk. Resolves once the host has all of them.
   */
  async write(
    handle: Buffer,
    offset: number,
    length: number,
    fill: (block: Buffer) => Promise<number>,
    onWritten: (bytes: number) => void,
  ): Promise<void> {
    let written = 0
    const reader = new LineReader()
    let nonsense = false
    this.channel.on('data', (chunk: Buffer) => {
      let lines: string[] = []
      try {
        lines = reader.push(chunk)
      } catch {
        nonsense = true
      }
      for (const line of lines) {
        const count = parseWritten(line)
        if (count === undefined || count < written || count > length) {
          nonsense = true
          this.channel.close()
          return
        }
        written = count
        onWritten(written)
      }
    })
    this.sendHeader({ op: 'write', handle: handle.toString('hex'), offset, length })
    const blocks = [0, 1].map(() => Buffer.allocUnsafe(Math.min(BLOCK, Math.max(length, 1))))
    // A block is filled again only once SSH has taken the bytes sent from it.
    const sent: Promise<void>[] = [Promise.resolve(), Promise.resolve()]
    let closed = false
    void this.outcome.then(() => (closed = true))
    try {
      for (let at = 0, turn = 0; at < length && !closed; turn ^= 1) {
        await sent[turn]
        const block = blocks[turn]!.subarray(0, Math.min(BLOCK, length - at))
        const filled = await fill(block)
        if (filled === 0) throw new UserError('failure', 'the file got shorter while it was being sent')
        at += filled
        sent[turn] = new Promise((resolve) => this.channel.write(block.subarray(0, filled), () => resolve()))
      }
      await Promise.all(sent)
      this.channel.end()
    } catch (error) {
      this.channel.close()
      throw error
    }
    const outcome = await this.outcome
    if (nonsense) throw new UserError('failure', 'the host sent a count of written bytes that makes no sense')
    if (outcome.code !== 0 || written !== length) throw failed(outcome)
  }

  /**
   * Receives `length` bytes of the open download `handle` from `offset`, handing them to `take`
   * in order (awaited: the channel waits meanwhile). Resolves once all of them were taken.
   */
  async read(
    handle: Buffer,
    offset: number,
    length: number,
    take: (chunks: Buffer[]) => Promise<void>,
  ): Promise<void> {
    let received = 0
    const waiting = new Blocks()
    let taking: Promise<void> = Promise.resolve()
    let busy = false
    let failure: unknown
    let tooMuch = false
    const drain = () => {
      if (busy || waiting.waiting === 0 || failure !== undefined) return
      const chunks = waiting.take()
      busy = true
      taking = take(chunks).then(
        () => {
          waiting.release(chunks)
          busy = false
          this.channel.resume()
          drain()
        },
        (error: unknown) => {
          failure = error
          this.channel.close()
        },
      )
    }
    this.channel.on('data', (chunk: Buffer) => {
      if (received + chunk.length > length) {
        tooMuch = true
        this.channel.close()
        return
      }
      received += chunk.length
      waiting.add(chunk)
      if (waiting.waiting >= MAX_WAITING) this.channel.pause()
      drain()
    })
    this.sendHeader({ op: 'read', handle: handle.toString('hex'), offset, length })
    const outcome = await this.outcome
    // What arrived before the close is taken before the outcome is judged.
    for (let before: Promise<void> | undefined; before !== taking && failure === undefined;) {
      before = taking
      await taking
      drain()
    }
    if (failure !== undefined) throw failure
    if (tooMuch) throw new UserError('failure', 'the host sent more bytes than asked for')
    if (outcome.code !== 0 || received !== length) throw failed(outcome)
  }

  close(): void {
    this.channel.close()
  }

  private sendHeader(header: StreamHeader): void {
    this.channel.write(`${JSON.stringify(header)}\n`)
  }
}

function parseWritten(line: string): number | undefined {
  try {
    const value = (JSON.parse(line) as { written?: unknown }).written
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined
  } catch {
    return undefined
  }
}

function failed(outcome: Outcome): UserError {
  if (outcome.code === undefined) return new UserError('connectionLost', 'the session closed during the copy')
  const said = sanitizeForTerminal(outcome.message.trim(), 500)
  return new UserError('failure', `the host says: ${said || 'the file stream failed'}`)
}
