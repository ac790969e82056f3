/**
 * Unattended hosts and the organisation's key (issue 14, item 3). A gateway that pairs with each
 * side separately gets two pairings with different security words, and with nobody at the host's
 * keyboard nobody compares them: a host started with `--trust` must still refuse it, because the
 * technician's device proof is bound to the pairing it was made in. The attacker here is a real
 * WebSocket server in this test, running both pairings itself and relaying the real technician's
 * certificate and proof; when a host lets it in, it runs a command over SSH that leaves a marker.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import nacl from 'tweetnacl'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Permission } from '../src/core/consent/index.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import {
  createHostHandshake,
  createTechnicianHandshake,
  openJson,
  sealJson,
  type PairingResult,
} from '../src/core/pairing/index.js'
import { FrameQueue } from '../src/core/session/frame-queue.js'
import { generateSshKeyPair, parsePeerPublicKey } from '../src/core/ssh/keys.js'
import { connectSsh, runRemoteCommand } from '../src/core/ssh/technician-client.js'
import { startTechnician, type TechnicianSession } from '../src/core/technician/index.js'
import { ResumableStream } from '../src/core/transport/resumable-stream.js'
import { formatCertificate, newSerial, signCertificate } from '../src/core/trust/certificate.js'
import { deviceCredentialFrom, type DeviceCredential, type TrustAnchor } from '../src/core/trust/index.js'
import { ADMIN, startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

const ca = nacl.sign.keyPair()
const anchors: TrustAnchor[] = [{ publicKey: ca.publicKey }]

/** A device key and a certificate for it from `signer` (the organisation's CA unless said otherwise). */
function certifiedDevice(email = ADMIN.email, signer = ca, validFor = 86_400): DeviceCredential {
  const seed = nacl.randomBytes(32)
  const now = Math.floor(Date.now() / 1000)
  const certificate = signCertificate(
    {
      caKey: signer.publicKey,
      deviceKey: nacl.sign.keyPair.fromSeed(seed).publicKey,
      serial: newSerial(),
      notBefore: now - 60,
      notAfter: now + validFor,
      email,
      organisation: ADMIN.organisation,
    },
    signer.secretKey,
  )
  return deviceCredentialFrom(seed, formatCertificate(certificate))
}

let dir: string
let marker: string
const cleanups: (() => unknown)[] = []
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-trust-'))
  marker = path.join(dir, 'attacker-ran')
})
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  fs.rmSync(dir, { recursive: true, force: true })
})

/** The command the attacker (or a technician) runs: it leaves a marker, then prints `id`. */
const attack = () => `touch '${marker}'; id`

function hostAt(
  server: string,
  pin: string,
  options: { trust?: TrustAnchor[]; trustGateway?: boolean; autoApprove?: Permission[] },
) {
  const events: HostEvent[] = []
  return startHost({
    server,
    entry: { pin },
    interactive: false,
    confirmWords: false,
    autoApprove: options.autoApprove ?? ['exec'],
    ...(options.trust ? { trust: options.trust } : {}),
    ...(options.trustGateway ? { trustGateway: true } : {}),
    auditFile: path.join(dir, 'audit.jsonl'),
    onEvent: (event) => events.push(event),
  }).then((host) => {
    cleanups.push(() => host.end())
    return { host, events }
  })
}

function collect() {
  const stream = new PassThrough()
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
}

describe('through an honest gateway, a host with --trust', () => {
  let gw: TestGateway
  beforeEach(async () => {
    gw = await startTestGateway()
    cleanups.push(() => gw.close())
  })

  async function technicianWith(device: DeviceCredential | undefined, pin: string) {
    const events: { event: string; code?: string; reason?: string }[] = []
    const technician: TechnicianSession = await startTechnician({
      server: gw.url,
      entry: { pin },
      token: gw.token,
      onEvent: (event) => events.push(event),
      ...(device ? { device } : {}),
    })
    cleanups.push(() => technician.session.end())
    return { technician, events }
  }

  it('runs the auto-approved command of a technician its organisation certified, and shows who, checked by signature', async () => {
    const pin = await gw.newPin()
    const { host, events } = await hostAt(gw.url, pin, { trust: anchors })
    const { technician } = await technicianWith(certifiedDevice(), pin)
    const out = collect()
    const exit = await technician.exec(attack(), { stdout: out.stream, stderr: out.stream })
    expect(exit).toEqual({ exitCode: 0 })
    expect(out.text()).toMatch(/uid=\d+/)
    expect(fs.existsSync(marker)).toBe(true)
    const paired = events.find((event) => event.event === 'paired')
    expect(paired).toMatchObject({
      technician: { email: ADMIN.email },
      verified: {
        email: ADMIN.email,
        organisation: ADMIN.organisation,
        caFingerprint: expect.stringMatching(/^SHA256:/),
      },
    })
    technician.session.end()
    await host.done
    const audit = fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8')
    expect(audit).toContain('"verified":{"email":"alice@acme.example"')
  })

  for (const [what, device, why] of [
    ['without a certificate', undefined, /presented no certificate from your organisation/],
    [
      'certified by another organisation',
      certifiedDevice(ADMIN.email, nacl.sign.keyPair()),
      /not by your organisation's key/,
    ],
    [
      'certified for another email',
      certifiedDevice('bob@acme.example'),
      /certificate is for bob@acme.example, but the gateway says this is alice@acme.example/,
    ],
    ['whose certificate expired', certifiedDevice(ADMIN.email, ca, 1), /expired on/],
  ] as const) {
    it(`refuses a technician ${what}: both sides told why, exit code untrusted, nothing runs`, async () => {
      if (what === 'whose certificate expired') await new Promise((resolve) => setTimeout(resolve, 1100))
      const pin = await gw.newPin()
      const { host, events } = await hostAt(gw.url, pin, { trust: anchors })
      const { technician, events: technicianEvents } = await technicianWith(device, pin)
      await expect(
        technician.exec(attack(), { stdout: collect().stream, stderr: collect().stream }),
      ).rejects.toMatchObject({
        code: 'untrusted',
      })
      const ended = await host.done
      expect(ended).toMatchObject({ by: 'host', code: 'untrusted' })
      expect(ended.reason).toMatch(why)
      expect(events.some((event) => event.event === 'paired')).toBe(false)
      await technician.session.done
      expect(technicianEvents.at(-1)).toMatchObject({ event: 'ended', code: 'untrusted' })
      expect(technicianEvents.at(-1)?.reason).toMatch(/refused/)
      expect(fs.existsSync(marker)).toBe(false)
      // The host's audit log and the gateway's session row keep the refusal.
      const audit = fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8')
      expect(audit).toMatch(/"event":"session-end".*"code":"untrusted"/)
      const row = await gw.store.db
        .selectFrom('sessions')
        .select(['ended_by', 'end_reason'])
        .executeTakeFirst()
      expect(row?.end_reason).toMatch(/refused/)
    })
  }

  it('refuses --auto-approve without --trust (a usage error naming the flags) unless --trust-gateway is explicit, which is logged', async () => {
    const pin = await gw.newPin()
    await expect(hostAt(gw.url, pin, {})).rejects.toMatchObject({
      code: 'usage',
      message: expect.stringContaining('--auto-approve needs --trust KEY or --trust-file FILE'),
      hint: expect.stringContaining('--trust-gateway'),
    })
    const { events } = await hostAt(gw.url, pin, { trustGateway: true })
    await waitFor(() => events.some((event) => event.event === 'trust-gateway'))
    expect(fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8')).toContain(
      '"event":"trust-gateway","permissions":["exec"]',
    )
  })
})

/**
 * A gateway that pairs with each side on its own: it is the technician to the host and the host
 * to the technician, so it holds both sealed channels. It relays the real technician's hello
 * (certificate and proof) to the host under its own SSH key, and if the host answers with a hello
 * it connects SSH and runs `command`.
 */
async function maliciousGateway(command: string) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const address = server.address() as { port: number }
  const sessionId = 'mitmmitmmitmmitmmitmmitmmi'
  const sockets: Partial<Record<'host' | 'technician', { socket: WebSocket; frames: FrameQueue }>> = {}
  let onBoth!: () => void
  const both = new Promise<void>((resolve) => (onBoth = resolve))
  server.on('connection', (socket, request) => {
    const role = request.url === '/v1/ws/host' ? 'host' : 'technician'
    const frames = new FrameQueue()
    socket.on('message', (data: Buffer, isBinary) => isBinary && frames.push(new Uint8Array(data)))
    sockets[role] = { socket, frames }
    const expiresAt = new Date(Date.now() + 600_000).toISOString()
    socket.send(JSON.stringify({ type: 'waiting', sessionId, expiresAt, heartbeatMs: 60_000 }))
    if (sockets.host && sockets.technician) onBoth()
  })
  const outcome = (async () => {
    await both
    const host = sockets.host!
    const technician = sockets.technician!
    host.socket.send(
      JSON.stringify({
        type: 'paired',
        sessionId,
        technician: { name: ADMIN.name, email: ADMIN.email, organisation: ADMIN.organisation },
        policy: { permissions: ['exec', 'shell'] },
      }),
    )
    technician.socket.send(JSON.stringify({ type: 'paired', sessionId }))
    const sid = new TextEncoder().encode(sessionId)
    // The technician's pairing: the gateway plays the host.
    const asHost = createHostHandshake(sid)
    technician.socket.send(asHost.onCommit(await technician.frames.next()))
    const withTechnician: PairingResult = asHost.onReveal(await technician.frames.next())
    // The host's pairing: the gateway plays the technician.
    const asTechnician = createTechnicianHandshake(sid)
    host.socket.send(asTechnician.commit())
    const { reveal, result: withHost } = asTechnician.onHostKey(await host.frames.next())
    host.socket.send(reveal)
    // The real technician's hello, certificate and proof included, re-sealed for the host.
    const technicianHello = openJson(withTechnician.channel, await technician.frames.next()) as Record<
      string,
      unknown
    >
    const attackerKeys = generateSshKeyPair()
    host.socket.send(sealJson(withHost.channel, { ...technicianHello, sshKey: attackerKeys.publicKey }))
    const answer = openJson(withHost.channel, await host.frames.next()) as {
      type: string
      sshKey?: string
      reason?: string
    }
    const words = { technician: withTechnician.sas, host: withHost.sas }
    if (answer.type !== 'hello') return { answer, words, ran: undefined }
    // Let in: SSH as the "technician", with the attacker's own key.
    // It holds the host's pairing keys, so it speaks the host's resumable stream as its peer.
    const transport = new ResumableStream({ role: 'technician', resumeKey: withHost.resumeKey })
    transport.start(host.socket)
    host.socket.removeAllListeners('message')
    host.socket.on('message', (data: Buffer, isBinary) => isBinary && transport.pushFrame(data))
    for (const frame of host.frames.drain()) transport.pushFrame(Buffer.from(frame))
    const client = await connectSsh({
      transport,
      privateKey: attackerKeys.privateKey,
      hostKey: parsePeerPublicKey(answer.sshKey!)!,
    })
    const out = collect()
    const ran = await runRemoteCommand(client, command, { stdout: out.stream, stderr: out.stream })
    client.end()
    return { answer, words, ran: { ...ran, output: out.text() } }
  })()
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate()
        server.close(() => resolve())
      }),
  )
  return { url: `http://127.0.0.1:${address.port}`, outcome }
}

describe('a malicious gateway that pairs with each side separately', () => {
  it('gets a refusal from a host with --trust, and its `id` never runs, though it relays a real certified technician', async () => {
    const gateway = await maliciousGateway(attack())
    const { host, events } = await hostAt(gateway.url, '123456', { trust: anchors })
    const technician = await startTechnician({
      server: gateway.url,
      entry: { pin: '123456' },
      token: 'whatever',
      device: certifiedDevice(),
      onEvent: () => {},
    })
    cleanups.push(() => technician.session.end())
    const { answer, words, ran } = await gateway.outcome
    // Two pairings, two sets of words that nobody at an unattended host compares.
    expect(words.technician).not.toBe(words.host)
    expect(answer).toMatchObject({ type: 'refused' })
    expect(answer.reason).toMatch(/did not sign this session's pairing/)
    expect(ran).toBeUndefined()
    const ended = await host.done
    expect(ended).toMatchObject({ by: 'host', code: 'untrusted' })
    expect(events.some((event) => event.event === 'paired' || event.event === 'channel-open')).toBe(false)
    expect(fs.existsSync(marker)).toBe(false)
  })

  it('(the attack this stops) runs as the end user on a host that trusts the gateway', async () => {
    const gateway = await maliciousGateway(attack())
    await hostAt(gateway.url, '123456', { trustGateway: true })
    const technician = await startTechnician({
      server: gateway.url,
      entry: { pin: '123456' },
      token: 'whatever',
      onEvent: () => {},
    })
    cleanups.push(() => technician.session.end())
    const { ran } = await gateway.outcome
    expect(ran).toMatchObject({ exitCode: 0, output: expect.stringMatching(/uid=\d+/) })
    expect(fs.existsSync(marker)).toBe(true)
  })
})
