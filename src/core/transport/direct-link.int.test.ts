/**
 * The direct link's handshake over real sockets on 127.0.0.1: the paired technician gets in, a
 * recorded handshake replayed later does not (the host's nonce is fresh), a wrong key does not,
 * and frames cut anywhere by TCP come out whole.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { dialDirect, DirectLink, listenDirect, type DirectListener } from './direct-link.js'

const resumeKey = new Uint8Array(randomBytes(32))
const sessionId = 'k5nvmh3wq2x7tb4c9d0e1f2g3h'
const closers: (() => void)[] = []
afterEach(() => closers.splice(0).forEach((close) => close()))

interface Listening {
  listener: DirectListener
  linked: Promise<DirectLink>
  refused: { from: string; reason: string }[]
}

async function listen(): Promise<Listening> {
  const refused: Listening['refused'] = []
  let onLink!: (link: DirectLink) => void
  const linked = new Promise<DirectLink>((resolve) => (onLink = resolve))
  const listener = await listenDirect({
    resumeKey,
    sessionId,
    onLink,
    onRefused: (from, reason) => refused.push({ from, reason }),
    onTimeout: () => {},
  })
  closers.push(() => listener.close())
  return { listener, linked, refused }
}

/** A proxy to `port` that keeps what the client sent. */
async function recordingProxy(port: number): Promise<{ port: number; sent: Buffer[] }> {
  const sent: Buffer[] = []
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1')
    client.on('data', (chunk: Buffer) => sent.push(chunk))
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => server.close())
  return { port: (server.address() as net.AddressInfo).port, sent }
}

const waitUntil = async (condition: () => boolean, what: string) => {
  for (let tries = 0; tries < 500 && !condition(); tries++) await new Promise((r) => setTimeout(r, 10))
  if (!condition()) throw new Error(`timed out waiting for ${what}`)
}

describe('the direct link handshake', () => {
  it('lets the paired technician in; its recorded handshake, replayed, is refused', async () => {
    const first = await listen()
    const proxy = await recordingProxy(first.listener.port)
    const { link } = await dialDirect({
      candidates: [{ address: '127.0.0.1', port: proxy.port }],
      resumeKey,
      sessionId,
    })
    expect(link).toBeDefined()
    closers.push(() => link!.close('test over'))
    const hostSide = await first.linked
    closers.push(() => hostSide.close('test over'))
    // Frames flow both ways once proven.
    const got = new Promise<Buffer>((resolve) => hostSide.onFrame(resolve))
    link!.send(Buffer.from('hello over the direct link'))
    expect((await got).toString()).toBe('hello over the direct link')

    // Another listener of the same pairing (as after a new offer): the old bytes do not open it.
    const second = await listen()
    const replay = net.connect(second.listener.port, '127.0.0.1')
    replay.on('error', () => {}).resume()
    await new Promise((resolve) => replay.once('connect', resolve))
    replay.write(Buffer.concat(proxy.sent))
    await new Promise((resolve) => replay.once('close', resolve))
    await waitUntil(() => second.refused.length > 0, 'the refusal')
    expect(second.refused[0]!.reason).toBe('a proof that does not come from the paired technician')
  })

  it('does not let a technician with another key in, nor trust a host with another key', async () => {
    const host = await listen()
    const wrongKey = new Uint8Array(randomBytes(32))
    const result = await dialDirect({
      candidates: [{ address: '127.0.0.1', port: host.listener.port }],
      resumeKey: wrongKey,
      sessionId,
    })
    expect(result.link).toBeUndefined()
    // The host's proof fails first, on the technician's side: it never sends one of its own.
    expect(result.failure).toMatch(/not the paired end user/)
    await waitUntil(() => host.refused.length > 0, 'the refusal')
    expect(host.refused[0]!.reason).toMatch(/the direct link closed|proof/)
  })

  it('delivers frames whole however TCP cuts them', async () => {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    closers.push(() => server.close())
    const port = (server.address() as net.AddressInfo).port
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 10 }),
        async (frames, cuts) => {
          const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
          const sender = net.connect(port, '127.0.0.1')
          await new Promise((resolve) => sender.once('connect', resolve))
          const receiver = new DirectLink(await accepted)
          receiver.allowStreamFrames()
          const received: Buffer[] = []
          receiver.onFrame((frame) => received.push(Buffer.from(frame)))
          const bytes = Buffer.concat(
            frames.map((frame) => {
              const header = Buffer.alloc(4)
              header.writeUInt32BE(frame.length)
              return Buffer.concat([header, frame])
            }),
          )
          // Written in pieces of the given sizes, each its own write with Nagle off.
          sender.setNoDelay(true)
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const size = cuts[i % cuts.length]!
            sender.write(bytes.subarray(at, at + size))
            at += size
          }
          await waitUntil(() => received.length === frames.length, 'every frame')
          expect(received.map((frame) => frame.toString('hex'))).toEqual(
            frames.map((frame) => Buffer.from(frame).toString('hex')),
          )
          sender.destroy()
          receiver.close('done')
        },
      ),
      { numRuns: 30 },
    )
  })
})
