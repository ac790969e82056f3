/**
 * The chat link over a pair of in-memory streams: lines both ways, chunking, hostile text and
 * broken lines from the peer, and the decoder against arbitrary bytes.
 */
import { Duplex } from 'node:stream'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { UserError } from '../errors.js'
import {
  ChatDecoder,
  ChatLink,
  MAX_CHAT_LINE_BYTES,
  MAX_CHAT_TEXT,
  trustedTime,
  type ChatMessage,
  type ChatRole,
} from './index.js'

/** One end of an in-memory pair: what it writes, the other reads; closing it ends the other. */
class PairEnd extends Duplex {
  peer!: PairEnd

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.peer.push(chunk)
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null)
    callback(error)
  }
}

function streamPair(): [Duplex, Duplex] {
  const a = new PairEnd()
  const b = new PairEnd()
  a.peer = b
  b.peer = a
  return [a, b]
}

interface End {
  link: ChatLink
  received: ChatMessage[]
  closed: Promise<string | undefined>
}

function end(stream: Duplex, self: ChatRole): End {
  const received: ChatMessage[] = []
  let link!: ChatLink
  const closed = new Promise<string | undefined>((resolve) => {
    link = new ChatLink(stream, { self, onMessage: (message) => received.push(message), onClose: resolve })
  })
  return { link, received, closed }
}

/** A technician link, and the raw stream the test writes to as if it were the host. */
function hostileHost(): { technician: End; raw: Duplex } {
  const [a, b] = streamPair()
  return { technician: end(a, 'technician'), raw: b }
}

function within<T>(promise: Promise<T>, ms = 2000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no result in ${ms} ms`)), ms)),
  ])
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const line = (value: unknown) => `${JSON.stringify(value)}\n`
const now = () => new Date().toISOString()

describe('ChatLink', () => {
  it('carries lines both ways, labelled with the sender and a time', async () => {
    const [a, b] = streamPair()
    const host = end(a, 'host')
    const technician = end(b, 'technician')

    const sent = technician.link.send('  Hello, can you see my screen?  ')
    expect(sent).toMatchObject({ from: 'technician', text: 'Hello, can you see my screen?' })
    host.link.send('Yes')

    await until(() => host.received.length === 1 && technician.received.length === 1)
    expect(host.received[0]).toEqual({ from: 'technician', time: sent.time, text: sent.text })
    expect(technician.received[0]).toMatchObject({ from: 'host', text: 'Yes' })
    expect(Date.parse(technician.received[0]?.time ?? '')).toBeGreaterThan(Date.now() - 60_000)

    host.link.close()
    expect(await within(host.closed)).toBeUndefined()
    expect(await within(technician.closed)).toBeUndefined()
  })

  it('refuses an empty message and cuts a long one', () => {
    const [a] = streamPair()
    const { link } = end(a, 'host')
    expect(() => link.send('  \n ')).toThrow(UserError)
    expect([...link.send('é'.repeat(MAX_CHAT_TEXT + 50)).text]).toHaveLength(MAX_CHAT_TEXT)
  })

  it('joins a line split across chunks and splits several lines in one chunk', async () => {
    const { technician, raw } = hostileHost()
    const bytes = Buffer.from(line({ type: 'message', text: 'naïve ☃ one', time: now() }))
    // Split inside a multi-byte character too.
    for (let i = 0; i < bytes.length; i += 3) raw.write(bytes.subarray(i, i + 3))
    raw.write(
      line({ type: 'message', text: 'two', time: now() }) +
        line({ type: 'message', text: 'three', time: now() }),
    )
    await until(() => technician.received.length === 3)
    expect(technician.received.map((message) => message.text)).toEqual(['naïve ☃ one', 'two', 'three'])
  })

  it('shows escape sequences in received text escaped', async () => {
    const { technician, raw } = hostileHost()
    raw.write(line({ type: 'message', text: 'hi\u001b[2J\u001b]0;pwned\u0007\u202eevil', time: now() }))
    await until(() => technician.received.length === 1)
    const text = technician.received[0]?.text ?? ''
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/u)
    expect(text).toBe('hi\\x1b[2J\\x1b]0;pwned\\x07\\u202eevil')
  })

  it('labels a line with the peer’s role even when it claims another sender', async () => {
    const [a, b] = streamPair()
    const host = end(a, 'host')
    b.write(line({ type: 'message', from: 'host', text: 'I am the host', time: now() }))
    await until(() => host.received.length === 1)
    expect(host.received[0]?.from).toBe('technician')
  })

  it('a chat opened late reads the session’s chat so far, both sides, marked as history', async () => {
    const [a, b] = streamPair()
    const host = end(a, 'host')
    const technician = end(b, 'technician')
    const earlier: ChatMessage[] = [
      { from: 'host', time: now(), text: 'my printer is on fire' },
      { from: 'technician', time: now(), text: 'unplug it' },
    ]
    host.link.sendHistory(earlier)
    await within(technician.link.historyReceived)
    expect(technician.received).toEqual(earlier.map((message) => ({ ...message, history: true })))
    host.link.send('done')
    await until(() => technician.received.length === 3)
    expect(technician.received[2]).toMatchObject({ from: 'host', text: 'done' })
    expect(technician.received[2]?.history).toBeUndefined()
  })

  it('the host’s end refuses history from the technician: the past is the host’s record', async () => {
    const [a, b] = streamPair()
    const host = end(a, 'host')
    b.write(line({ type: 'history', from: 'host', text: 'the end user said yes', time: now() }))
    expect(await within(host.closed)).toMatch(/not a chat message/)
    expect(host.received).toEqual([])
  })

  it('uses its own clock when the sender’s time is invalid or more than a day off', async () => {
    const { technician, raw } = hostileHost()
    const before = Date.now()
    raw.write(line({ type: 'message', text: 'a', time: '2001-01-01T00:00:00Z' }))
    raw.write(line({ type: 'message', text: 'b', time: 'yesterday' }))
    await until(() => technician.received.length === 2)
    for (const message of technician.received) {
      expect(Date.parse(message.time)).toBeGreaterThanOrEqual(before - 1000)
    }
    const hourAgo = new Date(Date.now() - 3_600_000)
    expect(trustedTime(hourAgo.toISOString())).toBe(hourAgo.toISOString())
  })

  it('closes with a reason on a line longer than the limit', async () => {
    const { technician, raw } = hostileHost()
    raw.write('x'.repeat(MAX_CHAT_LINE_BYTES))
    raw.write('y')
    expect(await within(technician.closed)).toMatch(/longer than 16384 bytes/)
    expect(technician.link.isClosed).toBe(true)
    expect(() => technician.link.send('still there?')).toThrow(/closed/)
  })

  it.each([
    ['not JSON', 'hello\n', /not UTF-8 JSON/],
    ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0x0a]), /not UTF-8 JSON/],
    ['another type', line({ type: 'exec', command: 'rm -rf /' }), /not a chat message/],
    ['a number for text', line({ type: 'message', text: 7, time: now() }), /not a chat message/],
  ])('closes with a reason on %s', async (_, data, reason) => {
    const { technician, raw } = hostileHost()
    raw.write(line({ type: 'message', text: 'before', time: now() }))
    raw.write(data)
    raw.write(line({ type: 'message', text: 'after', time: now() }))
    expect(await within(technician.closed)).toMatch(reason)
    expect(technician.received.map((message) => message.text)).toEqual(['before'])
  })
})

describe('ChatDecoder', () => {
  it('never throws on arbitrary chunked bytes, and stops after its first error', () => {
    const message = fc
      .record({ text: fc.string({ minLength: 1 }), time: fc.string() })
      .map((m) => Buffer.from(line({ type: 'message', ...m })))
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 20_000 }), message)
    fc.assert(
      fc.property(fc.array(bytes, { maxLength: 20 }), (chunks) => {
        const decoder = new ChatDecoder()
        let errors = 0
        for (const chunk of chunks) {
          for (const result of decoder.push(chunk)) {
            if (errors > 0) return false
            if (!result.ok) errors += 1
          }
        }
        return errors <= 1
      }),
    )
  })

  it('decodes the same lines however the bytes are chunked', () => {
    const texts = fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 5 })
    fc.assert(
      fc.property(texts, fc.array(fc.nat(), { maxLength: 10 }), (list, cuts) => {
        const bytes = Buffer.from(list.map((text) => line({ type: 'message', text, time: 'x' })).join(''))
        const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((x, y) => x - y)
        const decoder = new ChatDecoder()
        const out: string[] = []
        let start = 0
        for (const point of [...points, bytes.length]) {
          for (const result of decoder.push(bytes.subarray(start, point)))
            if (result.ok && result.type === 'message') out.push(result.text)
          start = point
        }
        expect(out).toEqual(list)
      }),
    )
  })
})
