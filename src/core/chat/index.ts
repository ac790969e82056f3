/**
 * Chat between the end user and the technician (issue 4), carried as the `chat@rescue` SSH
 * subsystem inside the session. Chat needs no consent: it shows text, it runs nothing. Both sides
 * see who sent a line, when, and what it said; the caller writes each line to the audit log and,
 * as an event, to the gateway's session log.
 *
 * Wire format: one JSON object per `\n`-terminated UTF-8 line, `{"type":"message","text","time"}`.
 * The sender is implied by the direction (a channel has exactly two ends), so a `from` field sent
 * by the peer is never read. Anything else closes the channel with a reason.
 *
 * History: when a chat opens, the host first sends the session's chat so far, both sides, as
 * `{"type":"history","from","text","time"}` lines and then `{"type":"history-end"}`, so a
 * technician who opens `rescue chat` late reads what the end user already wrote. Only the
 * technician's end accepts these (the host keeps the record; the technician has nothing to tell it
 * about the past); on the host's end they close the channel like any other stranger.
 *
 * Owns: the wire format, its decoder, the link over one channel, the subsystem helpers.
 * May import: ssh2 types, zod, ../errors, ../text. Never oclif or ink.
 */
import type { Duplex } from 'node:stream'
import type ssh2 from 'ssh2'
import type { ClientChannel, ServerChannel } from 'ssh2'
import { z } from 'zod'
import { UserError } from '../errors.js'
import { sanitizeForTerminal } from '../text/sanitize.js'

/** The SSH subsystem name the host serves chat under. */
export const CHAT_SUBSYSTEM = 'chat@rescue'

/** The longest chat text, in characters; longer text is cut. */
export const MAX_CHAT_TEXT = 2000

/** The longest wire line, in bytes before the newline; a longer one closes the channel. */
export const MAX_CHAT_LINE_BYTES = 16 * 1024

// A peer's clock is not trusted: a time further than this from ours is replaced by ours.
const CLOCK_SKEW_MS = 24 * 60 * 60 * 1000

export type ChatRole = 'host' | 'technician'

/** One chat line as shown to either side. */
export interface ChatMessage {
  from: ChatRole
  /** ISO-8601 UTC. */
  time: string
  text: string
  /** Said before this chat opened: the host's record of the session's chat so far. */
  history?: true
}

/** How many past lines the host keeps and replays to a chat that opens later. */
export const MAX_CHAT_HISTORY = 200

export interface ChatLinkOptions {
  /** This end's role; received lines are labelled with the other one. */
  self: ChatRole
  onMessage(message: ChatMessage): void
  /** Called once when the channel closes: with a reason when the peer broke the protocol. */
  onClose?(reason?: string): void
}

// Unknown keys (a forged `from` on a message) are stripped, never read.
const wireMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('message'), text: z.string().min(1), time: z.string() }),
  z.object({
    type: z.literal('history'),
    from: z.enum(['host', 'technician']),
    text: z.string().min(1),
    time: z.string(),
  }),
  z.object({ type: z.literal('history-end') }),
])

/** What one received line decodes to: text and time as sent, not yet sanitized or checked. */
export type ChatDecoded =
  | { ok: true; type: 'message'; text: string; time: string }
  | { ok: true; type: 'history'; from: ChatRole; text: string; time: string }
  | { ok: true; type: 'history-end' }
  | { ok: false; reason: string }

/**
 * Splits received bytes into lines and decodes each. After the first error it yields nothing
 * more: the caller closes the channel. Never throws.
 */
export class ChatDecoder {
  private pending: Buffer[] = []
  private pendingBytes = 0
  private failed = false
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true })

  push(chunk: Uint8Array): ChatDecoded[] {
    const results: ChatDecoded[] = []
    if (this.failed) return results
    let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    for (;;) {
      const newline = rest.indexOf(0x0a)
      const piece = newline === -1 ? rest : rest.subarray(0, newline)
      if (this.pendingBytes + piece.length > MAX_CHAT_LINE_BYTES) {
        return this.fail(results, `a chat line was longer than ${MAX_CHAT_LINE_BYTES} bytes`)
      }
      if (newline === -1) {
        // Copied: the stream may reuse the chunk's memory.
        if (piece.length > 0) this.pending.push(Buffer.from(piece))
        this.pendingBytes += piece.length
        return results
      }
      const line = Buffer.concat([...this.pending, piece])
      this.pending = []
      this.pendingBytes = 0
      rest = rest.subarray(newline + 1)
      const decoded = this.decodeLine(line)
      if (!decoded.ok) return this.fail(results, decoded.reason)
      results.push(decoded)
    }
  }

  private decodeLine(line: Buffer): ChatDecoded {
    let value: unknown
    try {
      value = JSON.parse(this.utf8.decode(line))
    } catch {
      return { ok: false, reason: 'a chat line was not UTF-8 JSON' }
    }
    const parsed = wireMessageSchema.safeParse(value)
    if (!parsed.success) return { ok: false, reason: 'a chat line was not a chat message' }
    return { ok: true, ...parsed.data }
  }

  private fail(results: ChatDecoded[], reason: string): ChatDecoded[] {
    this.failed = true
    this.pending = []
    this.pendingBytes = 0
    results.push({ ok: false, reason })
    return results
  }
}

const isoDateTime = z.iso.datetime({ offset: true })

/** The sender's time when it is a valid ISO datetime within a day of ours, else ours: a peer's clock is not trusted. */
export function trustedTime(sent: string, now: Date = new Date()): string {
  if (!isoDateTime.safeParse(sent).success) return now.toISOString()
  const ms = Date.parse(sent)
  if (!Number.isFinite(ms) || Math.abs(ms - now.getTime()) > CLOCK_SKEW_MS) return now.toISOString()
  return new Date(ms).toISOString()
}

/** One chat over one channel: sends lines, decodes the peer's, closes on a protocol error. */
export class ChatLink {
  private readonly decoder = new ChatDecoder()
  private readonly peer: ChatRole
  private closed = false
  private historyDone!: () => void
  /** Settles once the host's history has arrived (or the channel closed): on the technician's end. */
  readonly historyReceived = new Promise<void>((resolve) => (this.historyDone = resolve))

  constructor(
    private readonly stream: Duplex,
    private readonly options: ChatLinkOptions,
  ) {
    this.peer = options.self === 'host' ? 'technician' : 'host'
    stream.on('data', (chunk: Buffer | string) => this.receive(chunk))
    stream.on('error', (error: Error) => this.finish(`the chat channel failed: ${error.message}`))
    stream.on('end', () => this.finish())
    stream.on('close', () => this.finish())
  }

  /** Whether the channel has closed; `send` refuses then. */
  get isClosed(): boolean {
    return this.closed
  }

  /** Sends `text` trimmed and cut to MAX_CHAT_TEXT characters; returns the line as sent. */
  send(text: string): ChatMessage {
    if (this.closed) throw new UserError('connectionLost', 'the chat is closed')
    const trimmed = text.trim()
    if (trimmed === '') throw new UserError('usage', 'a chat message cannot be empty')
    const chars = [...trimmed]
    const cut = chars.length > MAX_CHAT_TEXT ? chars.slice(0, MAX_CHAT_TEXT).join('') : trimmed
    const message: ChatMessage = { from: this.options.self, time: new Date().toISOString(), text: cut }
    this.stream.write(`${JSON.stringify({ type: 'message', text: cut, time: message.time })}\n`)
    return message
  }

  /** The host's end: sends the session's chat so far, then the mark that it is all there. */
  sendHistory(messages: readonly ChatMessage[]): void {
    if (this.closed || this.options.self !== 'host') return
    for (const { from, text, time } of messages)
      this.stream.write(`${JSON.stringify({ type: 'history', from, text, time })}\n`)
    this.stream.write(`${JSON.stringify({ type: 'history-end' })}\n`)
  }

  /** Closes the channel; onClose is called with no reason. */
  close(): void {
    this.finish()
  }

  private receive(chunk: Buffer | string): void {
    if (this.closed) return
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk
    for (const decoded of this.decoder.push(bytes)) {
      if (this.closed) return
      if (!decoded.ok) {
        this.finish(decoded.reason)
        return
      }
      if (decoded.type !== 'message' && this.options.self === 'host') {
        this.finish('a chat line was not a chat message')
        return
      }
      if (decoded.type === 'history-end') {
        this.historyDone()
        continue
      }
      this.options.onMessage({
        // A message's sender is the other end, whatever it says; history is the host's record.
        from: decoded.type === 'history' ? decoded.from : this.peer,
        time: trustedTime(decoded.time),
        text: sanitizeForTerminal(decoded.text, MAX_CHAT_TEXT),
        ...(decoded.type === 'history' ? { history: true as const } : {}),
      })
    }
  }

  private finish(reason?: string): void {
    if (this.closed) return
    this.closed = true
    this.historyDone()
    // An ssh2 channel's destroy() sends EOF and CLOSE; a plain stream's tears it down.
    this.stream.destroy()
    this.options.onClose?.(reason)
  }
}

// The host sends its history as soon as the chat opens; a host that says nothing is not waited for long.
const HISTORY_WAIT_MS = 5000

/**
 * The technician's side: opens the chat subsystem on the session's SSH connection; resolves once
 * the session's chat so far has been passed to `onMessage` (marked `history`).
 */
export async function openChat(client: ssh2.Client, options: ChatLinkOptions): Promise<ChatLink> {
  const link = await new Promise<ChatLink>((resolve, reject) => {
    client.subsys(CHAT_SUBSYSTEM, (error: Error | undefined, channel: ClientChannel) => {
      if (error) {
        reject(new UserError('failure', 'the end user’s computer did not open the chat'))
        return
      }
      resolve(new ChatLink(channel, options))
    })
  })
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    link.historyReceived,
    new Promise<void>((resolve) => (timer = setTimeout(resolve, HISTORY_WAIT_MS))),
  ])
  clearTimeout(timer)
  return link
}

/**
 * The host's side: serves chat on an accepted `chat@rescue` subsystem channel, first sending
 * `history` (the session's chat so far) and the mark that it is all there.
 */
export function serveChat(
  channel: ServerChannel,
  options: ChatLinkOptions,
  history: readonly ChatMessage[] = [],
): ChatLink {
  const link = new ChatLink(channel, options)
  link.sendHistory(history)
  return link
}
