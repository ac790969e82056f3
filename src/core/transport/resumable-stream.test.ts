import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { REPLAY_LIMIT_BYTES, ResumableStream, type FrameLink } from './resumable-stream.js'

/** One direction of an in-memory link: delivers frames a turn later, or loses them once cut. */
class TestLink implements FrameLink {
  cut = false
  readonly bufferedAmount = 0
  constructor(private readonly deliver: (frame: Buffer) => void) {}
  send(frame: Buffer): void {
    if (this.cut) return
    setImmediate(() => {
      if (!this.cut) this.deliver(frame)
    })
  }
  pause(): void {}
  resume(): void {}
}

function pair(key = randomBytes(32), peerKey = key) {
  const host = new ResumableStream({ role: 'host', resumeKey: key })
  const technician = new ResumableStream({ role: 'technician', resumeKey: peerKey })
  const connect = () => {
    const toTechnician = new TestLink((frame) => technician.pushFrame(frame))
    const toHost = new TestLink((frame) => host.pushFrame(frame))
    return { toTechnician, toHost, cut: () => ((toTechnician.cut = true), (toHost.cut = true)) }
  }
  const first = connect()
  host.start(first.toTechnician)
  technician.start(first.toHost)
  return {
    host,
    technician,
    link: first,
    /** Loses what is in flight, then both sides come back on a new link. */
    reconnect(link = first) {
      link.cut()
      host.linkLost()
      technician.linkLost()
      const next = connect()
      host.rejoin(next.toTechnician)
      technician.rejoin(next.toHost)
      return next
    },
  }
}

function collect(stream: ResumableStream): { bytes: () => Buffer } {
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  return { bytes: () => Buffer.concat(chunks) }
}

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

describe('ResumableStream', () => {
  it('carries bytes both ways, in order, and forgets what the peer acknowledged', async () => {
    const { host, technician } = pair()
    const atTechnician = collect(technician)
    const atHost = collect(host)
    const down = randomBytes(300_000)
    const up = randomBytes(1000)
    host.write(down)
    technician.write(up)
    await until(() => atTechnician.bytes().length === down.length && atHost.bytes().length === up.length)
    expect(atTechnician.bytes().equals(down)).toBe(true)
    expect(atHost.bytes().equals(up)).toBe(true)
    await until(() => host.pendingBytes === 0 && technician.pendingBytes === 0)
  })

  it('after a cut, delivers every byte exactly once, whatever was in flight', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 11 }),
        async (sizes, cutAfter) => {
          const { host, technician, reconnect } = pair()
          const received = collect(technician)
          const chunks = sizes.map((size) => randomBytes(size))
          let link
          for (const [index, chunk] of chunks.entries()) {
            host.write(chunk)
            if (index === cutAfter) link = reconnect()
            await new Promise((resolve) => setImmediate(resolve))
          }
          if (!link) reconnect()
          const all = Buffer.concat(chunks)
          await until(() => received.bytes().length >= all.length)
          await new Promise((resolve) => setTimeout(resolve, 30))
          expect(received.bytes().equals(all)).toBe(true)
          host.destroy()
          technician.destroy()
        },
      ),
      { numRuns: 25 },
    )
  })

  it('keeps writing while the link is gone, up to its replay limit, then holds the writer back', async () => {
    const { host, technician, link } = pair()
    link.cut()
    host.linkLost()
    technician.linkLost()
    const chunk = randomBytes(64 * 1024)
    let accepted = 0
    const write = (): Promise<void> =>
      new Promise((resolve) => {
        if (host.write(chunk)) resolve()
        else host.once('drain', () => resolve())
      })
    // Writes beyond the limit stay pending: count what was taken within a bounded time.
    const writer = (async () => {
      for (let i = 0; i < 200; i++) {
        await write()
        accepted += chunk.length
      }
    })()
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(host.pendingBytes).toBeLessThanOrEqual(REPLAY_LIMIT_BYTES + 512 * 1024)
    expect(accepted).toBeLessThan(200 * chunk.length)
    host.destroy()
    technician.destroy()
    void writer.catch(() => {})
  })

  it('refuses a resume made without the pairing key, and delivers nothing after it', async () => {
    const { host, technician, link } = pair(randomBytes(32), randomBytes(32))
    const errors: Error[] = []
    technician.on('error', (error: Error) => errors.push(error))
    host.on('error', (error: Error) => errors.push(error))
    link.cut()
    host.linkLost()
    technician.linkLost()
    const toTechnician = new TestLink((frame) => technician.pushFrame(frame))
    const toHost = new TestLink((frame) => host.pushFrame(frame))
    host.rejoin(toTechnician)
    technician.rejoin(toHost)
    await until(() => errors.length === 2)
    expect(errors.map((error) => error.message)).toEqual([
      'the peer sent a resume that does not come from the paired peer',
      'the peer sent a resume that does not come from the paired peer',
    ])
  })

  it('refuses a reflected resume: its own RESUME sent back does not verify', async () => {
    const key = randomBytes(32)
    const host = new ResumableStream({ role: 'host', resumeKey: key })
    const errors: Error[] = []
    host.on('error', (error: Error) => errors.push(error))
    const mirror: FrameLink = {
      send: (frame) => setImmediate(() => host.pushFrame(frame)),
      bufferedAmount: 0,
      pause() {},
      resume() {},
    }
    host.rejoin(mirror)
    await until(() => errors.length === 1)
    expect(errors[0]!.message).toBe('the peer sent a resume that does not come from the paired peer')
  })

  it('fails on a gap in the stream instead of delivering wrong bytes', async () => {
    const { technician } = pair()
    const errors: Error[] = []
    technician.on('error', (error: Error) => errors.push(error))
    const frame = Buffer.alloc(9 + 3)
    frame[0] = 0x01
    frame.writeBigUInt64BE(10n, 1)
    technician.pushFrame(frame)
    await until(() => errors.length === 1)
    expect(errors[0]!.message).toBe('the peer sent a gap in the stream')
  })

  it('acknowledges a request on its answer: no ACK frame of its own, and the request is forgotten', async () => {
    const host = new ResumableStream({ role: 'host', resumeKey: randomBytes(32) })
    const technician = new ResumableStream({ role: 'technician', resumeKey: host['options'].resumeKey })
    const sentByHost: Buffer[] = []
    const toTechnician = new TestLink((frame) => technician.pushFrame(frame))
    const toHost = new TestLink((frame) => host.pushFrame(frame))
    host.start({
      ...toTechnician,
      bufferedAmount: 0,
      pause() {},
      resume() {},
      send: (frame) => {
        sentByHost.push(frame)
        toTechnician.send(frame)
      },
    })
    technician.start(toHost)
    host.on('data', (request: Buffer) => host.write(Buffer.concat([Buffer.from('re: '), request])))
    const answers = collect(technician)
    let pendingAtAnswer = -1
    technician.once('data', () => (pendingAtAnswer = technician.pendingBytes))
    technician.write(Buffer.from('stat /tmp'))
    await until(() => answers.bytes().length === 13)
    expect(answers.bytes().toString()).toBe('re: stat /tmp')
    // The answer itself told the technician that its request arrived.
    expect(pendingAtAnswer).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(sentByHost.map((frame) => frame[0])).toEqual([0x04])
    // The answer, which nothing went back on, is acknowledged on its own after the delay.
    expect(host.pendingBytes).toBe(0)
    host.destroy()
    technician.destroy()
  })

  it('after a cut in a conversation both ways, delivers every byte exactly once in each direction', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 30_000 })), {
          minLength: 1,
          maxLength: 16,
        }),
        fc.integer({ min: 0, max: 15 }),
        async (writes, cutAfter) => {
          const { host, technician, reconnect } = pair()
          const atTechnician = collect(technician)
          const atHost = collect(host)
          const down: Buffer[] = []
          const up: Buffer[] = []
          let link
          for (const [index, [fromHost, size]] of writes.entries()) {
            const chunk = randomBytes(size)
            ;(fromHost ? down : up).push(chunk)
            ;(fromHost ? host : technician).write(chunk)
            if (index === cutAfter) link = reconnect()
            await new Promise((resolve) => setImmediate(resolve))
          }
          if (!link) reconnect()
          const [allDown, allUp] = [Buffer.concat(down), Buffer.concat(up)]
          await until(
            () => atTechnician.bytes().length >= allDown.length && atHost.bytes().length >= allUp.length,
          )
          await new Promise((resolve) => setTimeout(resolve, 30))
          expect(atTechnician.bytes().equals(allDown)).toBe(true)
          expect(atHost.bytes().equals(allUp)).toBe(true)
          await until(() => host.pendingBytes === 0 && technician.pendingBytes === 0)
          host.destroy()
          technician.destroy()
        },
      ),
      { numRuns: 25 },
    )
  })

  it('fails on data that acknowledges bytes never sent', async () => {
    const { technician } = pair()
    const errors: Error[] = []
    technician.on('error', (error: Error) => errors.push(error))
    const frame = Buffer.alloc(17 + 3)
    frame[0] = 0x04
    frame.writeBigUInt64BE(0n, 1)
    frame.writeBigUInt64BE(5n, 9)
    technician.pushFrame(frame)
    await until(() => errors.length === 1)
    expect(errors[0]!.message).toBe('the peer sent an acknowledgement of bytes never sent')
  })
})
