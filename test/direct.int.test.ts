/**
 * The direct link: a real gateway, a real host and technician on 127.0.0.1, SSH over the resumable
 * stream. The session moves off the gateway's relay onto a TCP link between the two sides, bytes
 * arrive exact, the gateway stops carrying them; a cut of that link puts the session back on the
 * relay with nothing lost or doubled; anything else knocking on the host's port is refused and
 * logged.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { PassThrough, Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { readAuditLog } from '../src/core/audit/index.js'
import type { Permission } from '../src/core/consent/index.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import type { DirectMode } from '../src/core/session/index.js'
import { startTechnician, type TechnicianEvent } from '../src/core/technician/index.js'
import type { DirectCandidate } from '../src/core/transport/direct-link.js'
import { startCutProxy, type CutProxy } from './helpers/cut-proxy.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

let gw: TestGateway | undefined
const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await gw?.close()
  gw = undefined
})

const has = (events: { event: string }[], name: string) => events.some((event) => event.event === name)

interface Options {
  host: DirectMode
  technician: DirectMode
  autoApprove?: Permission[]
  /** What the host offers instead of its own addresses, given the port it listens on. */
  candidates?: (port: number) => DirectCandidate[]
  gatewayDirect?: boolean
  /** The host reaches the gateway through the test's proxy, which can cut its relay link. */
  hostRelay?: (gatewayUrl: string) => Promise<string>
}

async function session(options: Options) {
  let relayed = 0
  gw = await startTestGateway({
    tap: (_from, frame) => (relayed += frame.length),
    ...(options.gatewayDirect === false ? { direct: false } : {}),
  })
  const pin = await gw.newPin()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-direct-'))
  const auditFile = path.join(dir, 'audit.jsonl')
  const hostEvents: HostEvent[] = []
  const technicianEvents: TechnicianEvent[] = []
  const host = await startHost({
    server: options.hostRelay ? await options.hostRelay(gw.url) : gw.url,
    entry: { pin },
    interactive: false,
    confirmWords: false,
    trustGateway: true,
    autoApprove: options.autoApprove ?? ['exec'],
    auditFile,
    direct: options.host,
    ...(options.candidates ? { directCandidates: options.candidates } : {}),
    onEvent: (event) => hostEvents.push(event),
  })
  const technician = await startTechnician({
    server: gw.url,
    entry: { pin },
    token: gw.token,
    direct: options.technician,
    onEvent: (event) => technicianEvents.push(event),
  })
  cleanups.push(async () => {
    technician.session.end()
    host.end()
    await Promise.all([technician.session.done, host.done])
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await technician.ssh
  return { host, technician, hostEvents, technicianEvents, auditFile, relayed: () => relayed }
}

/** Runs `sha256sum` on the host with `payload` on its stdin; `during(offset)` runs as it is written. */
async function hashRemotely(
  s: Awaited<ReturnType<typeof session>>,
  payload: Buffer,
  during: (offset: number) => void = () => {},
): Promise<string> {
  const stdin = new PassThrough()
  let stdout = ''
  const exit = s.technician.exec('sha256sum', {
    stdin,
    stdout: new Writable({ write: (chunk: Buffer, _e, done) => ((stdout += chunk.toString()), done()) }),
    stderr: new Writable({ write: (_chunk, _e, done) => done() }),
  })
  const piece = 256 * 1024
  for (let offset = 0; offset < payload.length; offset += piece) {
    if (!stdin.write(payload.subarray(offset, offset + piece)))
      await new Promise((r) => stdin.once('drain', r))
    during(offset)
  }
  stdin.end()
  expect(await exit).toEqual({ exitCode: 0 })
  return stdout.split(' ')[0]!
}

/** Reads `size` bytes the host makes (`head -c` of a file it holds) and returns them. */
async function readRemotely(s: Awaited<ReturnType<typeof session>>, file: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  const exit = s.technician.exec(`cat ${file}`, {
    stdout: new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) }),
    stderr: new Writable({ write: (_chunk, _e, done) => done() }),
  })
  expect(await exit).toEqual({ exitCode: 0 })
  return Buffer.concat(chunks)
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

describe('the direct link', () => {
  it('carries a paired session between the two sides, bytes exact both ways, not through the gateway', async () => {
    const s = await session({ host: 'allow', technician: 'ask' })
    await waitFor(
      () => has(s.hostEvents, 'link-direct') && has(s.technicianEvents, 'link-direct'),
      15_000,
      'link-direct on both sides',
    )
    expect(s.hostEvents.find((event) => event.event === 'direct-offered')).toMatchObject({
      port: expect.any(Number),
    })
    const before = s.relayed()
    const payload = randomBytes(8 * 1024 * 1024)
    expect(await hashRemotely(s, payload)).toBe(sha256(payload))
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-direct-out-')), 'data')
    const made = randomBytes(8 * 1024 * 1024)
    fs.writeFileSync(file, made)
    cleanups.push(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }))
    expect(sha256(await readRemotely(s, file))).toBe(sha256(made))
    // 16 MiB went by; the gateway relayed none of it (its control messages are text, not counted).
    expect(s.relayed() - before).toBe(0)
    expect(has(s.hostEvents, 'link-relay')).toBe(false)
    const audit = readAuditLog(s.auditFile).entries.map((entry) => entry.event)
    expect(audit).toContain('link-direct')
  })

  it('stays on the relay unless a side asks, and when a side or the gateway refuses', async () => {
    for (const [host, technician, gatewayDirect] of [
      ['allow', 'allow', true],
      ['ask', 'refuse', true],
      ['refuse', 'ask', true],
      ['ask', 'ask', false],
    ] as const) {
      const s = await session({ host, technician, gatewayDirect })
      const payload = randomBytes(256 * 1024)
      const before = s.relayed()
      expect(await hashRemotely(s, payload)).toBe(sha256(payload))
      expect(s.relayed() - before).toBeGreaterThan(payload.length)
      expect(has(s.hostEvents, 'direct-offered')).toBe(false)
      expect(has(s.technicianEvents, 'link-direct')).toBe(false)
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
      await gw?.close()
      gw = undefined
    }
  })

  it('falls back to the relay when the direct link is cut mid-stream: nothing lost, nothing twice', async () => {
    let proxy: CutProxy | undefined
    proxy = await startCutProxy(1)
    cleanups.push(() => proxy?.close())
    const s = await session({
      host: 'ask',
      technician: 'allow',
      // The technician reaches the host through the test's proxy, which can cut it.
      candidates: (port) => {
        proxy!.retarget(port)
        return [{ address: '127.0.0.1', port: proxy!.port }]
      },
    })
    await waitFor(
      () => has(s.hostEvents, 'link-direct') && has(s.technicianEvents, 'link-direct'),
      15_000,
      'link-direct on both sides',
    )
    const payload = randomBytes(24 * 1024 * 1024)
    const hash = await hashRemotely(s, payload, (offset) => {
      if (offset === 8 * 1024 * 1024) proxy!.cut()
    })
    expect(hash).toBe(sha256(payload))
    expect(s.technicianEvents.find((event) => event.event === 'link-relay')).toMatchObject({
      reason: expect.stringMatching(/direct link dropped|went back to the relay/),
    })
    expect(has(s.hostEvents, 'link-relay')).toBe(true)
    // The session goes on over the relay.
    const more = randomBytes(1024 * 1024)
    expect(await hashRemotely(s, more)).toBe(sha256(more))
    const audit = readAuditLog(s.auditFile).entries.map((entry) => entry.event)
    expect(audit).toEqual(expect.arrayContaining(['link-direct', 'link-relay']))
    proxy = undefined
  })

  it('goes on over the direct link while the relay link is cut, and the relay comes back', async () => {
    let relay: CutProxy | undefined
    const s = await session({
      host: 'ask',
      technician: 'allow',
      hostRelay: async (url) => {
        relay = await startCutProxy(Number(new URL(url).port))
        cleanups.push(() => relay!.close())
        return relay.url
      },
    })
    await waitFor(
      () => has(s.hostEvents, 'link-direct') && has(s.technicianEvents, 'link-direct'),
      15_000,
      'link-direct on both sides',
    )
    relay!.cut()
    await waitFor(
      () => has(s.technicianEvents, 'link-lost'),
      10_000,
      "the technician told of the host's drop",
    )
    // The gateway cannot reach the host, yet the session's bytes flow.
    const during = randomBytes(4 * 1024 * 1024)
    expect(await hashRemotely(s, during)).toBe(sha256(during))
    relay!.restore()
    await waitFor(
      () => has(s.hostEvents, 'link-restored') && has(s.technicianEvents, 'link-restored'),
      15_000,
      'link-restored on both sides',
    )
    const after = randomBytes(4 * 1024 * 1024)
    expect(await hashRemotely(s, after)).toBe(sha256(after))
    expect(has(s.hostEvents, 'link-relay')).toBe(false)
  })

  it('refuses garbage, a forged proof and a second connection on its port, logs them, and goes on', async () => {
    // The technician is offered a port where nothing listens: the host's own stays open for the test.
    const closed = net.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const deadPort = (closed.address() as net.AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const s = await session({
      host: 'ask',
      technician: 'allow',
      candidates: () => [{ address: '127.0.0.1', port: deadPort }],
    })
    const offered = s.hostEvents.find((event) => event.event === 'direct-offered') as { port: number }
    expect(offered).toBeDefined()

    const knock = async (send: (socket: net.Socket) => void): Promise<Buffer> => {
      const socket = net.connect(offered.port, '127.0.0.1')
      const received: Buffer[] = []
      socket.on('data', (chunk: Buffer) => received.push(chunk))
      await new Promise((resolve) => socket.once('connect', resolve))
      send(socket)
      await new Promise((resolve) => socket.once('close', resolve))
      return Buffer.concat(received)
    }
    const frame = (payload: Buffer) => {
      const header = Buffer.alloc(4)
      header.writeUInt32BE(payload.length)
      return Buffer.concat([header, payload])
    }
    // Garbage: an HTTP request, which reads as a length far over the limit.
    await knock((socket) => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    // A well-formed handshake with a proof made without the pairing's key.
    const answer = await knock((socket) => {
      socket.write(frame(Buffer.concat([Buffer.from('RSD1'), randomBytes(32)])))
      socket.once('data', () => socket.write(frame(randomBytes(32))))
    })
    expect(answer.length).toBe(4 + 64) // the host's challenge, then nothing: no OK
    // One connection at a time: a second while the first is being checked is turned away at once.
    const first = net.connect(offered.port, '127.0.0.1')
    await new Promise((resolve) => first.once('connect', resolve))
    await knock(() => {})
    first.destroy()

    await waitFor(
      () => s.hostEvents.filter((event) => event.event === 'direct-refused').length >= 3,
      10_000,
      'three refusals',
    )
    const reasons = s.hostEvents
      .filter((event) => event.event === 'direct-refused')
      .map((event) => (event as { reason: string }).reason)
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/over the limit|not a rescue handshake/),
        'a proof that does not come from the paired technician',
        'a second connection',
      ]),
    )
    const logged = readAuditLog(s.auditFile).entries.filter((entry) => entry.event === 'direct-refused')
    expect(logged.length).toBeGreaterThanOrEqual(3)
    // The session is unharmed, on the relay.
    const payload = randomBytes(64 * 1024)
    expect(await hashRemotely(s, payload)).toBe(sha256(payload))
    expect(has(s.technicianEvents, 'link-relay')).toBe(true)
  })
})
