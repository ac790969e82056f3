/**
 * Sessions that survive a lost link: a real gateway, a real host and technician, and a TCP proxy
 * of the test's own between one side and the gateway that the test cuts (every connection reset,
 * new ones refused) and restores. SSH above the resumable stream must never notice.
 */
import crypto, { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { syncBuiltinESMExports } from 'node:module'
import { PassThrough, Writable } from 'node:stream'
import nacl from 'tweetnacl'
import WebSocket from 'ws'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { readAuditLog } from '../src/core/audit/index.js'
import { openGatewaySocket } from '../src/core/client/index.js'
import { RESUME_HEADER, WS_PATH } from '../src/core/protocol/control-messages.js'
import { UserError } from '../src/core/errors.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import type { Permission } from '../src/core/consent/index.js'
import type { TechnicianEvent } from '../src/core/technician/index.js'
import { openRemoteShell } from '../src/core/ssh/technician-client.js'
import { startTechnician } from '../src/core/technician/index.js'
import { startCutProxy, type CutProxy } from './helpers/cut-proxy.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

let gw: TestGateway | undefined
const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await gw?.close()
  gw = undefined
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A paired session; `cut` says whose link goes through the proxy. */
async function session(options: { cut: 'host' | 'technician'; autoApprove: Permission[]; graceMs?: number }) {
  // A second session in the same test shares the gateway.
  gw ??= await startTestGateway()
  const proxy: CutProxy = await startCutProxy(Number(new URL(gw.url).port))
  cleanups.push(() => proxy.close())
  const pin = await gw.newPin()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-resume-'))
  const auditFile = path.join(dir, 'audit.jsonl')
  const hostEvents: HostEvent[] = []
  const technicianEvents: TechnicianEvent[] = []
  const grace = options.graceMs !== undefined ? { resumeGraceMs: options.graceMs } : {}
  const host = await startHost({
    server: options.cut === 'host' ? proxy.url : gw.url,
    entry: { pin },
    interactive: false,
    confirmWords: false,
    // --auto-approve needs a --trust key or the operator's explicit word on the gateway: the test gives the latter.
    trustGateway: true,
    autoApprove: options.autoApprove,
    auditFile,
    ...grace,
    onEvent: (event) => hostEvents.push(event),
  })
  const technician = await startTechnician({
    server: options.cut === 'technician' ? proxy.url : gw.url,
    entry: { pin },
    token: gw.token,
    ...grace,
    onEvent: (event) => technicianEvents.push(event),
  })
  cleanups.push(async () => {
    technician.session.end()
    host.end()
    await Promise.all([technician.session.done, host.done])
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const client = await technician.ssh
  const paired = technicianEvents.find((event) => event.event === 'paired') as { sessionId: string }
  return {
    proxy,
    host,
    technician,
    client,
    hostEvents,
    technicianEvents,
    auditFile,
    sessionId: paired.sessionId,
  }
}

const has = (events: { event: string }[], name: string) => events.some((event) => event.event === name)

describe('a session whose link drops', () => {
  it('keeps the same shell when the technician’s link is cut, and bytes typed meanwhile arrive once', async () => {
    const s = await session({ cut: 'technician', autoApprove: ['shell'] })
    const shell = await openRemoteShell(s.client, undefined)
    let output = ''
    shell.on('data', (chunk: Buffer) => (output += chunk.toString()))
    shell.write('echo pid=$$\n')
    await waitFor(() => /pid=\d+/.test(output), 10_000, 'the first pid')
    const pid = /pid=(\d+)/.exec(output)![1]

    s.proxy.cut()
    await waitFor(
      () => has(s.technicianEvents, 'link-lost') && has(s.hostEvents, 'link-lost'),
      10_000,
      'link-lost',
    )
    shell.write('echo typed-during-the-cut\n')
    await sleep(1500)
    s.proxy.restore()
    await waitFor(
      () => has(s.technicianEvents, 'link-restored') && has(s.hostEvents, 'link-restored'),
      10_000,
      'link-restored',
    )
    shell.write('echo pid=$$\n')
    await waitFor(() => (output.match(/pid=\d+/g) ?? []).length === 2, 10_000, 'the second pid')

    expect(output.match(/pid=(\d+)/g)).toEqual([`pid=${pid}`, `pid=${pid}`])
    expect(output.match(/typed-during-the-cut/g)).toHaveLength(1)
    expect(s.technicianEvents.find((event) => event.event === 'link-lost')).toMatchObject({ side: 'self' })
    expect(s.hostEvents.find((event) => event.event === 'link-lost')).toMatchObject({ side: 'peer' })
    // On record on both sides: the end user's audit log and the gateway's session log.
    const audit = readAuditLog(s.auditFile).entries.map((entry) => entry.event)
    expect(audit).toEqual(expect.arrayContaining(['link-lost', 'link-restored']))
    const logged = (await gw!.store.listSessionEvents(s.sessionId)).filter((row) => row.source === 'gateway')
    expect(logged.map((row) => `${row.event}:${row.kind}`)).toEqual(
      expect.arrayContaining(['link-lost:technician', 'link-restored:technician']),
    )
    shell.end('exit\n')
  })

  it('carries 24 MiB of a running command whole through a cut of the host’s link', async () => {
    const s = await session({ cut: 'host', autoApprove: ['exec'] })
    const payload = randomBytes(24 * 1024 * 1024)
    const stdin = new PassThrough()
    let stdout = ''
    const exit = s.technician.exec('sha256sum', {
      stdin,
      stdout: new Writable({ write: (chunk: Buffer, _e, done) => ((stdout += chunk.toString()), done()) }),
      stderr: new Writable({ write: (_chunk, _e, done) => done() }),
    })
    // Written in pieces; the link is cut a third of the way and restored a second later.
    const piece = 256 * 1024
    for (let offset = 0; offset < payload.length; offset += piece) {
      if (!stdin.write(payload.subarray(offset, offset + piece)))
        await new Promise((r) => stdin.once('drain', r))
      if (offset === 8 * 1024 * 1024) {
        s.proxy.cut()
        setTimeout(() => s.proxy.restore(), 1000)
      }
    }
    stdin.end()
    expect(await exit).toEqual({ exitCode: 0 })
    expect(stdout.split(' ')[0]).toBe(createHash('sha256').update(payload).digest('hex'))
    expect(has(s.hostEvents, 'link-restored')).toBe(true)
  })

  it('ends both sides with a clear reason when the link stays down past the grace period', async () => {
    const s = await session({ cut: 'technician', autoApprove: [], graceMs: 1000 })
    s.proxy.cut()
    const [technicianEnded, hostEnded] = await Promise.all([s.technician.session.done, s.host.done])
    expect(technicianEnded).toMatchObject({
      code: 'connectionLost',
      reason: 'the connection did not come back within 1 s',
    })
    expect(hostEnded).toMatchObject({
      by: 'gateway',
      code: 'connectionLost',
      reason: "the technician's connection did not come back within 1 s",
    })
    const audit = readAuditLog(s.auditFile).entries.map((entry) => entry.event)
    expect(audit.slice(-2)).toEqual(['link-lost', 'session-end'])
  })
})

describe('a resume that is not the paired side’s', () => {
  it('is refused and logged: a forged proof, and an unknown session', async () => {
    const s = await session({ cut: 'technician', autoApprove: [] })
    const url = new URL(gw!.url)
    url.protocol = 'ws:'
    url.pathname = WS_PATH.host
    const forger = new WebSocket(url, { headers: { [RESUME_HEADER]: s.sessionId } })
    const challenge = await new Promise<{ nonce: string }>((resolve) =>
      forger.once('message', (data: Buffer) => resolve(JSON.parse(data.toString()) as { nonce: string })),
    )
    const wrongKey = nacl.sign.keyPair()
    const proof = Buffer.from(
      nacl.sign.detached(
        new TextEncoder().encode(`rescue-resume-v1\n${s.sessionId}\nhost\n${challenge.nonce}`),
        wrongKey.secretKey,
      ),
    ).toString('base64')
    forger.send(JSON.stringify({ type: 'resume', proof }))
    const closed = await new Promise<number>((resolve) => forger.once('close', (code) => resolve(code)))
    expect(closed).toBe(4404)
    await waitFor(
      async () =>
        (await gw!.store.listSessionEvents(s.sessionId)).some((row) => row.event === 'resume-refused'),
      5000,
      'resume-refused in the session log',
    )
    // The real sides never noticed.
    expect(has(s.hostEvents, 'link-lost')).toBe(false)

    const unknown = await openGatewaySocket(
      { server: gw!.url, role: 'host', entry: { resume: 'nosuchsession0000' } },
      (socket) => socket,
    ).catch((error: unknown) => error)
    expect(unknown).toBeInstanceOf(UserError)
    expect((unknown as UserError).message).toBe('this session has ended and cannot be resumed')
  })
})

/** A resume on `sessionId` as the host, answering the gateway's challenge with `proof(nonce)`; its close code. */
async function tryResume(sessionId: string, proof: (nonce: string) => string): Promise<number> {
  const url = new URL(gw!.url)
  url.protocol = 'ws:'
  url.pathname = WS_PATH.host
  const forger = new WebSocket(url, { headers: { [RESUME_HEADER]: sessionId } })
  const closed = new Promise<number>((resolve) => forger.once('close', (code) => resolve(code)))
  const challenge = await new Promise<{ nonce: string }>((resolve) =>
    forger.once('message', (data: Buffer) => resolve(JSON.parse(data.toString()) as { nonce: string })),
  )
  forger.send(JSON.stringify({ type: 'resume', proof: proof(challenge.nonce) }))
  return closed
}

const refusedResumes = async (sessionId: string) =>
  (await gw!.store.listSessionEvents(sessionId)).filter((row) => row.event === 'resume-refused').length

describe('a resume proof taken from the wire', () => {
  it('is refused and logged when used again, and for another session, even signed with that session’s real key', async () => {
    const a = await session({ cut: 'host', autoApprove: [] })
    const b = await session({ cut: 'host', autoApprove: [] })
    // What B's end user signs when it resumes, as anyone on the path (or the gateway) could see it.
    // Resume proofs are node:crypto ed25519 signatures: its `sign`, watched (and the named import
    // of node:crypto synced with it).
    const signed: { text: string; key: crypto.KeyObject; signature: Buffer }[] = []
    const realSign = crypto.sign
    const spy = vi.spyOn(crypto, 'sign').mockImplementation(((
      algorithm: null,
      message: Uint8Array,
      key: crypto.KeyObject,
    ) => {
      const signature = realSign(algorithm, message, key)
      signed.push({ text: Buffer.from(message).toString('utf8'), key, signature })
      return signature
    }) as typeof crypto.sign)
    syncBuiltinESMExports()
    cleanups.push(() => {
      spy.mockRestore()
      syncBuiltinESMExports()
    })
    b.proxy.cut()
    await waitFor(() => has(b.technicianEvents, 'link-lost'), 10_000, 'link-lost')
    b.proxy.restore()
    await waitFor(() => has(b.hostEvents, 'link-restored'), 10_000, 'link-restored')
    const used = signed.find((entry) => entry.text.startsWith(`rescue-resume-v1\n${b.sessionId}\nhost\n`))
    expect(used, 'B’s host signed its resume').toBeDefined()
    const proof = Buffer.from(used!.signature).toString('base64')

    // The same proof again, on its own session: the challenge is fresh, the proof is not.
    expect(await tryResume(b.sessionId, () => proof)).toBe(4404)
    // On another session: B's proof as it was, and B's real key signing A's own challenge.
    expect(await tryResume(a.sessionId, () => proof)).toBe(4404)
    const withKeyOfB = (nonce: string) =>
      realSign(
        null,
        new TextEncoder().encode(`rescue-resume-v1\n${a.sessionId}\nhost\n${nonce}`),
        used!.key,
      ).toString('base64')
    expect(await tryResume(a.sessionId, withKeyOfB)).toBe(4404)

    await waitFor(
      async () => (await refusedResumes(a.sessionId)) === 2 && (await refusedResumes(b.sessionId)) === 1,
      5000,
      'three resume-refused rows in the session log',
    )
    // Neither session was taken over or even disturbed: A never dropped, B dropped once (the cut).
    expect(has(a.hostEvents, 'link-lost') || has(a.technicianEvents, 'link-lost')).toBe(false)
    expect(b.hostEvents.filter((event) => event.event === 'link-lost')).toHaveLength(1)
    expect(has(a.hostEvents, 'ended') || has(b.hostEvents, 'ended')).toBe(false)
  })
})

describe('what a side does while its own link is down', () => {
  it('ending: the peer hears who ended it once the link is back, not after the grace period', async () => {
    const s = await session({ cut: 'technician', autoApprove: [], graceMs: 30_000 })
    s.proxy.cut()
    await waitFor(() => has(s.technicianEvents, 'link-lost') && has(s.hostEvents, 'link-lost'), 10_000)
    s.technician.session.end()
    await sleep(1000)
    s.proxy.restore()
    const [technicianEnded, hostEnded] = await Promise.all([s.technician.session.done, s.host.done])

    expect(technicianEnded).toMatchObject({ by: 'technician', reason: 'the technician ended the session' })
    // Not "did not come back within 30 s": the technician's leave reached the gateway.
    expect(hostEnded).toMatchObject({ by: 'technician', reason: 'the technician ended the session' })
    expect(hostEnded.code).toBeUndefined()
    const row = await gw!.store.findSession(s.sessionId)
    expect(row).toMatchObject({ ended_by: 'technician', end_reason: 'the technician ended the session' })
  })

  it('ending, when the link does not come back: it leaves within the grace period; the peer is told why at its end', async () => {
    const s = await session({ cut: 'technician', autoApprove: [], graceMs: 2000 })
    s.proxy.cut()
    await waitFor(() => has(s.technicianEvents, 'link-lost'), 10_000)
    s.technician.session.end()
    const [technicianEnded, hostEnded] = await Promise.all([s.technician.session.done, s.host.done])
    expect(technicianEnded).toMatchObject({ by: 'technician', reason: 'the technician ended the session' })
    expect(hostEnded).toMatchObject({
      by: 'gateway',
      code: 'connectionLost',
      reason: "the technician's connection did not come back within 2 s",
    })
  })

  it('reporting: what it reports during the drop reaches the gateway’s session log after the resume, in order', async () => {
    const s = await session({ cut: 'technician', autoApprove: [] })
    s.proxy.cut()
    await waitFor(() => has(s.technicianEvents, 'link-lost') && has(s.hostEvents, 'link-lost'), 10_000)
    s.technician.session.report({ event: 'consent-decision', kind: 'shell', allowed: false })
    s.technician.session.report({ event: 'consent-decision', kind: 'exec', allowed: false })
    s.proxy.restore()
    await waitFor(() => has(s.technicianEvents, 'link-restored'), 10_000, 'link-restored')
    const fromTechnician = async () =>
      (await gw!.store.listSessionEvents(s.sessionId))
        .filter((row) => row.source === 'technician' && row.event === 'consent-decision')
        .map((row) => `${row.kind}:${row.allowed}`)
    await waitFor(async () => (await fromTechnician()).length === 2, 5000, 'the two reports in the log')
    expect(await fromTechnician()).toEqual(['shell:0', 'exec:0'])
  })
})
