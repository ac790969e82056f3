import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { coalesceWrites, flushWrites } from './coalesce.js'

/** A real loopback TCP pair: what the writer sends and everything the reader got until it closed. */
async function loopback(): Promise<{ writer: net.Socket; received: Promise<string>; close(): void }> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const writer = net.connect(port, '127.0.0.1')
  await new Promise((resolve) => writer.once('connect', resolve))
  const reader = await accepted
  const received = new Promise<string>((resolve) => {
    let text = ''
    reader.on('data', (data: Buffer) => (text += data.toString()))
    reader.on('close', () => resolve(text))
    reader.on('error', () => resolve(text))
  })
  return {
    writer,
    received,
    close: () => {
      writer.destroy()
      server.close()
    },
  }
}

let close: (() => void) | undefined
afterEach(() => close?.())

describe('writes coalesced on a socket', () => {
  it('leave at the end of the turn, in order', async () => {
    const pair = await loopback()
    close = pair.close
    coalesceWrites(pair.writer)
    pair.writer.write('one ')
    pair.writer.write('two')
    await new Promise((resolve) => setImmediate(resolve))
    pair.writer.end()
    expect(await pair.received).toBe('one two')
  })

  it('flushed at once, reach the peer even when the writer dies in the same turn', async () => {
    const pair = await loopback()
    close = pair.close
    coalesceWrites(pair.writer)
    pair.writer.write('resume-key')
    flushWrites(pair.writer)
    // Dies before the turn ends, as a process killed right after it said "paired".
    pair.writer.destroy()
    expect(await pair.received).toBe('resume-key')
  })

  it('unflushed, die with a writer that dies in the same turn (why the flush exists)', async () => {
    const pair = await loopback()
    close = pair.close
    coalesceWrites(pair.writer)
    pair.writer.write('lost')
    pair.writer.destroy()
    expect(await pair.received).toBe('')
  })
})
