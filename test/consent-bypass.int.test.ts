/**
 * A hostile technician: the test drives the raw ssh2 Client that `startTechnician` connected, as
 * a technician whose own rescue code was altered would, against a real gateway and the real host
 * (consent broker, SSH server, audit log). Whatever it asks, nothing runs without the end user's
 * answer, and the host's audit log says what was asked and how it was decided.
 */
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import type ssh2 from 'ssh2'
import type { ClientChannel, ExecOptions, SFTPWrapper } from 'ssh2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readAuditLog, type AuditEntry } from '../src/core/audit/index.js'
import type { DecidedBy, Permission } from '../src/core/consent/index.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import { startTechnician } from '../src/core/technician/index.js'
import { useTicket, writeTicket } from '../src/core/reboot/ticket.js'
import {
  encodeKeys,
  encodeOutput,
  encodeSize,
  SharedTerminal,
  ViewFrameDecoder,
} from '../src/core/share/index.js'
import type { PresentStage } from '../src/core/present/index.js'
import { WebSocket } from 'ws'
import { api } from '../src/core/client/index.js'
import { ADMIN, startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

type RequestEvent = Extract<HostEvent, { event: 'consent-request' }>
type DecisionEvent = Extract<HostEvent, { event: 'consent-decision' }>

// Any raw C0 or C1 control, DEL, or bidi override: what must never reach the end user's terminal.
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u

let gw: TestGateway
let dir: string
const teardowns: (() => Promise<void>)[] = []

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-bypass-'))
  gw = await startTestGateway()
})
afterEach(async () => {
  for (const teardown of teardowns.splice(0)) await teardown().catch(() => {})
  await gw.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

/** Rejects when `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

/**
 * Makes one ssh2 request and resolves with what its callback got: the error, or the channel when
 * the host let it through. A request ssh2 refuses to send (not connected) resolves with that error.
 */
function request<T>(
  send: (callback: (error: Error | undefined, value: T) => void) => unknown,
): Promise<Error | T> {
  return new Promise<Error | T>((resolve) => {
    try {
      send((error, value) => resolve(error ?? value))
    } catch (error) {
      if (!(error instanceof Error && error.message === 'Not connected')) throw error
      resolve(error)
    }
  })
}

/** `request`, failing the test when the callback has not been called within `timeoutMs`. */
function attempt<T>(
  send: (callback: (error: Error | undefined, value: T) => void) => unknown,
  what: string,
  timeoutMs = 5000,
): Promise<Error | T> {
  return within(request(send), timeoutMs, what)
}

/** Resolves with the channel's stdout once it closes. */
function drain(channel: ClientChannel): Promise<string> {
  const chunks: Buffer[] = []
  channel.on('data', (chunk: Buffer) => chunks.push(chunk))
  channel.stderr.resume()
  return within(
    new Promise((resolve) => channel.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')))),
    5000,
    'the channel to close',
  )
}

const touch = (file: string) => `touch '${file}'`

async function pair(options: {
  interactive: boolean
  consentTimeoutMs?: number
  share?: SharedTerminal
  stage?: PresentStage
}) {
  const pin = await gw.newPin()
  const events: HostEvent[] = []
  const auditFile = path.join(dir, 'audit', 'audit.jsonl')
  const host = await startHost({
    server: gw.url,
    entry: { pin },
    interactive: options.interactive,
    // At a terminal the end user confirms the words first (below); these tests attack what comes after.
    confirmWords: options.interactive,
    // --auto-approve needs a --trust key or the operator's explicit word on the gateway: the test gives the latter.
    trustGateway: true,
    wordsTimeoutMs: 10_000,
    autoApprove: [],
    auditFile,
    ...(options.consentTimeoutMs !== undefined ? { consentTimeoutMs: options.consentTimeoutMs } : {}),
    ...(options.share ? { share: options.share } : {}),
    ...(options.stage ? { stage: options.stage } : {}),
    onEvent: (event) => events.push(event),
  })
  teardowns.push(async () => {
    host.end()
    await within(host.done, 5000, 'the host to end')
  })
  const technician = await startTechnician({
    server: gw.url,
    entry: { pin },
    token: gw.token,
    onEvent: () => {},
  })
  const end = async () => {
    technician.session.end()
    host.end()
    await within(Promise.all([host.done, technician.session.done]), 5000, 'both sides to end')
  }
  teardowns.push(end)
  const client = await within(technician.ssh, 10_000, 'SSH to come up')
  if (options.interactive) {
    await waitFor(() => events.some((event) => event.event === 'words-asked'), 5000, 'the words question')
    host.confirmWords(true)
    await within(technician.words, 5000, 'the words to be confirmed')
  }

  const requests = () => events.filter((event): event is RequestEvent => event.event === 'consent-request')
  const decision = (id: string) =>
    events.find((event): event is DecisionEvent => event.event === 'consent-decision' && event.id === id)
  /** The n-th consent request (from 1), once the host has made it. */
  const nthRequest = async (n: number) => {
    await waitFor(() => requests().length >= n, 5000, `consent request #${n}`)
    return requests()[n - 1]!
  }
  const audit = () => {
    const { entries, skipped } = readAuditLog(auditFile)
    expect(skipped).toBe(0)
    return entries
  }
  return { host, technician, client, events, requests, decision, nthRequest, audit, end }
}

function auditRequests(entries: AuditEntry[], permission: Permission) {
  return entries.filter(
    (entry): entry is Extract<AuditEntry, { event: 'consent-request' }> =>
      entry.event === 'consent-request' && entry.permission === permission,
  )
}

function auditDecision(entries: AuditEntry[], id: string) {
  return entries.find(
    (entry): entry is Extract<AuditEntry, { event: 'consent-decision' }> =>
      entry.event === 'consent-decision' && entry.id === id,
  )
}

/** The audit log holds the request with this detail (or this summary), denied by `by`. */
function expectDeniedInAudit(
  entries: AuditEntry[],
  permission: Permission,
  by: DecidedBy,
  match: { detail?: string; count?: number } = {},
) {
  const asked = auditRequests(entries, permission).filter(
    (entry) => match.detail === undefined || entry.detail === match.detail,
  )
  expect(asked).toHaveLength(match.count ?? 1)
  for (const request of asked) {
    expect(auditDecision(entries, request.id)).toMatchObject({ permission, decision: 'deny', by })
  }
}

const refusals = (entries: AuditEntry[]) =>
  entries.flatMap((entry) => (entry.event === 'refused' ? [entry.request] : []))
/** The string fields of an event or entry that hold a raw control character. */
const rawStrings = (record: object) =>
  Object.values(record).filter(
    (value): value is string => typeof value === 'string' && RAW_CONTROL.test(value),
  )
const channelOpens = (entries: AuditEntry[]) => entries.filter((entry) => entry.event === 'channel-open')

describe('a technician client altered by the test', () => {
  it('gets no shell, no command and no file when nobody can answer', async () => {
    const { client, end, audit } = await pair({ interactive: false })
    const marker = path.join(dir, 'exec-ran')

    expect(await attempt<ClientChannel>((cb) => client.shell(cb), 'shell with a pty')).toBeInstanceOf(Error)
    expect(await attempt<ClientChannel>((cb) => client.shell(false, cb), 'shell')).toBeInstanceOf(Error)
    expect(await attempt<ClientChannel>((cb) => client.exec(touch(marker), cb), 'exec')).toBeInstanceOf(Error)
    // SFTP opens, but every file operation in it asks, and nobody can answer.
    const sftp = await attempt<SFTPWrapper>((cb) => client.sftp(cb), 'sftp')
    if (sftp instanceof Error) throw sftp
    const planted = path.join(dir, 'sftp-put')
    const listing = await new Promise<unknown>((resolve) =>
      sftp.readdir(dir, (error, list) => resolve(error ?? list)),
    )
    expect(listing).toBeInstanceOf(Error)
    const put = await new Promise<unknown>((resolve) =>
      sftp.writeFile(planted, 'x', (error) => resolve(error)),
    )
    expect(put).toBeInstanceOf(Error)
    expect(
      await attempt<ClientChannel>((cb) => client.subsys('rescue-unknown', cb), 'an unknown subsystem'),
    ).toBeInstanceOf(Error)
    await end()

    expect(fs.existsSync(marker)).toBe(false)
    expect(fs.existsSync(planted)).toBe(false)
    const entries = audit()
    expectDeniedInAudit(entries, 'shell', 'no-terminal', { count: 2 })
    expectDeniedInAudit(entries, 'exec', 'no-terminal', { detail: touch(marker) })
    expectDeniedInAudit(entries, 'files.browse', 'no-terminal', { detail: dir })
    expectDeniedInAudit(entries, 'files.send', 'no-terminal', { detail: planted })
    // An unknown subsystem has no prompt: refused without asking.
    expect(refusals(entries)).toEqual(['the SSH subsystem "rescue-unknown"'])
    expect(channelOpens(entries).map((entry) => entry.kind)).toEqual(['sftp'])
  })

  it('asks again after a denial, and runs nothing when denied twice', async () => {
    const { client, host, decision, nthRequest, requests, end, audit } = await pair({
      interactive: true,
      consentTimeoutMs: 10_000,
    })
    const marker = path.join(dir, 'exec-ran')

    const first = attempt<ClientChannel>((cb) => client.exec(touch(marker), cb), 'the first exec', 8000)
    const asked = await nthRequest(1)
    expect(asked).toMatchObject({ permission: 'exec', detail: touch(marker) })
    host.answer(asked.id, 'deny')
    expect(await first).toBeInstanceOf(Error)
    expect(decision(asked.id)).toMatchObject({ decision: 'deny', by: 'end-user' })

    const second = attempt<ClientChannel>((cb) => client.exec(touch(marker), cb), 'the second exec', 8000)
    const askedAgain = await nthRequest(2)
    expect(askedAgain.id).not.toBe(asked.id)
    // Pending: neither remembered as a denial nor as a grant; the end user is asked again.
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(decision(askedAgain.id)).toBeUndefined()
    host.answer(askedAgain.id, 'deny')
    expect(await second).toBeInstanceOf(Error)
    expect(decision(askedAgain.id)).toMatchObject({ decision: 'deny', by: 'end-user' })
    expect(requests()).toHaveLength(2)
    await end()

    expect(fs.existsSync(marker)).toBe(false)
    const entries = audit()
    expectDeniedInAudit(entries, 'exec', 'end-user', { detail: touch(marker), count: 2 })
    expect(channelOpens(entries)).toEqual([])
  })

  it('asks again once the end user revoked a session grant, and denies on timeout', async () => {
    const { client, host, decision, nthRequest, end, audit } = await pair({
      interactive: true,
      consentTimeoutMs: 500,
    })
    const granted = path.join(dir, 'granted')
    const grantedAgain = path.join(dir, 'granted-again')
    const marker = path.join(dir, 'after-revoke')

    const first = attempt<ClientChannel>((cb) => client.exec(touch(granted), cb), 'the granted exec')
    const asked = await nthRequest(1)
    host.answer(asked.id, 'session')
    const channel = await first
    if (channel instanceof Error) throw channel
    await drain(channel)
    // The marker works: a command that is allowed does leave it.
    expect(fs.existsSync(granted)).toBe(true)

    // The grant holds for the session: the next one runs without a prompt.
    const second = await attempt<ClientChannel>((cb) => client.exec(touch(grantedAgain), cb), 'exec on grant')
    if (second instanceof Error) throw second
    await drain(second)
    expect(decision((await nthRequest(2)).id)).toMatchObject({ decision: 'once', by: 'session-grant' })
    expect(fs.existsSync(grantedAgain)).toBe(true)

    host.revoke()
    const third = attempt<ClientChannel>((cb) => client.exec(touch(marker), cb), 'exec after revoke')
    const askedAgain = await nthRequest(3)
    expect(decision(askedAgain.id)).toBeUndefined()
    expect(await third).toBeInstanceOf(Error)
    expect(decision(askedAgain.id)).toMatchObject({ decision: 'deny', by: 'timeout' })
    await end()

    expect(fs.existsSync(marker)).toBe(false)
    const entries = audit()
    expect(entries.filter((entry) => entry.event === 'grants-revoked')).toHaveLength(1)
    expectDeniedInAudit(entries, 'exec', 'timeout', { detail: touch(marker) })
    expect(channelOpens(entries).map((entry) => entry.command)).toEqual([touch(granted), touch(grantedAgain)])
  })

  for (const endedBy of ['host', 'technician'] as const) {
    it(`denies a pending request when the ${endedBy} ends the session, and the old client runs nothing`, async () => {
      const { client, host, technician, decision, nthRequest, audit } = await pair({
        interactive: true,
        consentTimeoutMs: 20_000,
      })
      const marker = path.join(dir, 'pending-ran')
      const later = path.join(dir, 'later-ran')

      const pending = request<ClientChannel>((cb) => client.exec(touch(marker), cb))
      const asked = await nthRequest(1)
      if (endedBy === 'host') host.end()
      else technician.session.end()
      await within(Promise.all([host.done, technician.session.done]), 5000, 'both sides to end')
      await waitFor(() => decision(asked.id) !== undefined, 5000, 'the pending request to be decided')
      expect(decision(asked.id)).toMatchObject({ decision: 'deny', by: 'ended' })
      // ssh2 may never call back once the session is gone; what matters is that no channel comes.
      const late = new Promise<string>((resolve) => setTimeout(() => resolve('no answer'), 500))
      const outcome = await Promise.race([pending, late])
      expect(outcome === 'no answer' || outcome instanceof Error).toBe(true)

      expect(
        await attempt<ClientChannel>((cb) => client.exec(touch(later), cb), 'exec after the end'),
      ).toBeInstanceOf(Error)
      // Whatever the old client sends, the ended host never runs it.
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(fs.existsSync(marker)).toBe(false)
      expect(fs.existsSync(later)).toBe(false)
      const entries = audit()
      expectDeniedInAudit(entries, 'exec', 'ended', { detail: touch(marker) })
      expect(auditRequests(entries, 'exec')).toHaveLength(1)
      expect(channelOpens(entries)).toEqual([])
      expect(entries.at(-1)).toMatchObject({ event: 'session-end', by: endedBy })
    })
  }

  it('refuses port, X11 and agent forwarding without asking, and logs each', async () => {
    const { client, requests, end, audit } = await pair({ interactive: true, consentTimeoutMs: 10_000 })
    let connections = 0
    const target = net.createServer((socket) => {
      connections++
      socket.destroy()
    })
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
    teardowns.push(() => new Promise((resolve) => target.close(() => resolve())))
    const port = (target.address() as net.AddressInfo).port
    const x11Marker = path.join(dir, 'x11-ran')
    const agentMarker = path.join(dir, 'agent-ran')

    expect(
      await attempt<ClientChannel>(
        (cb) => client.forwardOut('127.0.0.1', 40000, '127.0.0.1', port, cb),
        'a direct-tcpip channel',
      ),
    ).toBeInstanceOf(Error)
    expect(
      await attempt<number>((cb) => client.forwardIn('127.0.0.1', 0, cb), 'a tcpip-forward request'),
    ).toBeInstanceOf(Error)
    expect(
      await attempt<ClientChannel>((cb) => client.exec(touch(x11Marker), { x11: true }, cb), 'exec with X11'),
    ).toBeInstanceOf(Error)
    // ssh2 only asks for agent forwarding when it has an agent: give the client a fake one.
    ;(client as unknown as { _agent: object })._agent = {}
    const withAgent = { agentForward: true } as ExecOptions
    expect(
      await attempt<ClientChannel>((cb) => client.exec(touch(agentMarker), withAgent, cb), 'exec with agent'),
    ).toBeInstanceOf(Error)
    await end()

    expect(connections).toBe(0)
    expect(fs.existsSync(x11Marker)).toBe(false)
    expect(fs.existsSync(agentMarker)).toBe(false)
    // Refused before the command was even sent: nothing to ask the end user about.
    expect(requests()).toEqual([])
    const entries = audit()
    expect(refusals(entries)).toEqual([
      `a connection to 127.0.0.1:${port} through this computer`,
      'the SSH request "tcpip-forward"',
      'X11 forwarding',
      'SSH agent forwarding',
    ])
    expect(auditRequests(entries, 'exec')).toEqual([])
    expect(channelOpens(entries)).toEqual([])
  })

  it('cannot settle a pending prompt from its side of the connection', async () => {
    const { client, host, decision, nthRequest, requests, end, audit } = await pair({
      interactive: true,
      consentTimeoutMs: 3000,
    })
    const marker = path.join(dir, 'pending-ran')

    // A channel the end user did allow, to type into while the next prompt waits.
    const catOpen = attempt<ClientChannel>((cb) => client.exec('cat', cb), 'the allowed cat')
    host.answer((await nthRequest(1)).id, 'once')
    const cat = await catOpen
    if (cat instanceof Error) throw cat
    const echoed: Buffer[] = []
    cat.on('data', (chunk: Buffer) => echoed.push(chunk))

    const pending = attempt<ClientChannel>((cb) => client.exec(touch(marker), cb), 'the pending exec')
    const asked = await nthRequest(2)
    const typed = `a\n${asked.id}\ny\nonce\nsession\n\r\n`
    cat.write(typed)
    // The keys reached a process on the host: they were delivered, and answered nothing.
    await waitFor(() => Buffer.concat(echoed).toString('utf8') === typed, 1500, 'cat to echo the keys')
    const asA = attempt<ClientChannel>((cb) => client.exec('a', cb), 'exec "a"')
    const asId = attempt<ClientChannel>(
      (cb) => client.exec(asked.id, { env: { ANSWER: asked.id } }, cb),
      'id',
    )
    await nthRequest(4)
    expect(requests().map((request) => request.detail)).toEqual(['cat', touch(marker), 'a', asked.id])

    expect(decision(asked.id)).toBeUndefined()
    expect(await pending).toBeInstanceOf(Error)
    expect(decision(asked.id)).toMatchObject({ decision: 'deny', by: 'timeout' })
    expect(await asA).toBeInstanceOf(Error)
    expect(await asId).toBeInstanceOf(Error)
    cat.end()
    await drain(cat)
    await end()

    expect(fs.existsSync(marker)).toBe(false)
    const entries = audit()
    expectDeniedInAudit(entries, 'exec', 'timeout', { detail: touch(marker) })
    expectDeniedInAudit(entries, 'exec', 'timeout', { detail: 'a' })
    expectDeniedInAudit(entries, 'exec', 'timeout', { detail: asked.id })
    expect(channelOpens(entries).map((entry) => entry.command)).toEqual(['cat'])
  })

  it("passes none of the technician's environment to a command the end user allowed", async () => {
    const { client, host, nthRequest, end } = await pair({ interactive: true, consentTimeoutMs: 10_000 })
    const marker = path.join(dir, 'bash-env-ran')
    const script = path.join(dir, 'bash-env.sh')
    fs.writeFileSync(script, `${touch(marker)}\n`)
    const env = { SMUGGLED: 'yes', BASH_ENV: script, ENV: script }

    const allowed = attempt<ClientChannel>(
      (cb) => client.exec('printf "[%s]" "$SMUGGLED"', { env }, cb),
      'exec with an environment',
    )
    host.answer((await nthRequest(1)).id, 'once')
    const channel = await allowed
    if (channel instanceof Error) throw channel
    expect(await drain(channel)).toBe('[]')
    await end()

    expect(fs.existsSync(marker)).toBe(false)
  })

  it('shows a command line full of escape sequences sanitized, in the event and the audit log', async () => {
    const { client, requests, end, audit } = await pair({ interactive: false })
    const command = 'echo \u001b[2J\u001b]0;pwned\u0007 \u009b31m\r\u202eevil'
    const subsystem = 'sftp\u001b[2J\u0007'

    expect(await attempt<ClientChannel>((cb) => client.exec(command, cb), 'exec')).toBeInstanceOf(Error)
    expect(
      await attempt<ClientChannel>((cb) => client.subsys(subsystem, cb), 'a hostile subsystem'),
    ).toBeInstanceOf(Error)
    const [asked] = requests()
    expect(asked?.detail).toBe('echo \\x1b[2J\\x1b]0;pwned\\x07 \\x9b31m\\x0d\\u202eevil')
    expect(requests().flatMap(rawStrings)).toEqual([])
    await end()

    const entries = audit()
    const [logged] = auditRequests(entries, 'exec')
    expect(logged?.detail).toBe(asked?.detail)
    expect(logged?.summary).not.toMatch(RAW_CONTROL)
    expect(auditDecision(entries, logged!.id)).toMatchObject({ decision: 'deny', by: 'no-terminal' })
    expect(refusals(entries)).toEqual(['the SSH subsystem "sftp\\x1b[2J\\x07"'])
    // Decoded from JSON: an escaped \u001b in the file would come back as a raw ESC here.
    expect(entries.flatMap(rawStrings)).toEqual([])
  })
})

/** Internals of ssh2's Client that a hostile technician can reach: raw channel ids and messages. */
interface ClientInternals {
  config: { strictVendor: boolean }
  _chanMgr: { _channels: Record<string, { outgoing: { id: number } }> }
  _protocol: {
    channelClose(id: number): void
    exec(id: number, command: string, wantReply: boolean): void
  }
}

/** A request the host refuses, answered: once it is, the host has read everything sent before it. */
async function roundTrip(client: ssh2.Client): Promise<void> {
  expect(await attempt<number>((cb) => client.forwardIn('127.0.0.1', 0, cb), 'a round trip')).toBeInstanceOf(
    Error,
  )
}

// These fail against the current src: see the report that came with them.
describe('a technician client altered by the test, beyond what ssh2 offers', () => {
  it('refuses a connection to a Unix socket on the host, and logs it', async () => {
    const { client, requests, end, audit } = await pair({ interactive: false })
    const socketPath = path.join(dir, 'target.sock')
    let connections = 0
    const target = net.createServer((socket) => {
      connections++
      socket.destroy()
    })
    await new Promise<void>((resolve) => target.listen(socketPath, resolve))
    teardowns.push(() => new Promise((resolve) => target.close(() => resolve())))
    // ssh2 sends OpenSSH extensions only to OpenSSH servers, unless told otherwise.
    ;(client as unknown as ClientInternals).config.strictVendor = false

    expect(
      await attempt<ClientChannel>(
        (cb) => client.openssh_forwardOutStreamLocal(socketPath, cb),
        'a direct-streamlocal channel',
      ),
    ).toBeInstanceOf(Error)
    await end()

    expect(connections).toBe(0)
    expect(requests()).toEqual([])
    expect(refusals(audit())).toEqual([expect.stringContaining(socketPath)])
  })

  it('runs nothing when the technician closed the channel before the end user allowed it', async () => {
    const { client, host, events, decision, nthRequest, end } = await pair({
      interactive: true,
      consentTimeoutMs: 10_000,
    })
    const marker = path.join(dir, 'orphan-ran')

    void request<ClientChannel>((cb) => client.exec(touch(marker), cb))
    const asked = await nthRequest(1)
    const internals = client as unknown as ClientInternals
    // The newest channel: the first is the session's refusals@rescue.
    const channel = Object.values(internals._chanMgr._channels).at(-1)
    internals._protocol.channelClose(channel!.outgoing.id)
    await roundTrip(client)
    host.answer(asked.id, 'once')
    await waitFor(() => decision(asked.id) !== undefined, 5000, 'the decision')
    await roundTrip(client)
    await new Promise((resolve) => setTimeout(resolve, 300))

    expect(fs.existsSync(marker)).toBe(false)
    expect(events.filter((event) => event.event === 'channel-open')).toEqual([])
    await end()
  })

  it('runs one command per channel, whatever the end user allows after it', async () => {
    const { client, host, events, nthRequest, end } = await pair({
      interactive: true,
      consentTimeoutMs: 10_000,
    })
    const first = path.join(dir, 'first')
    const second = path.join(dir, 'second')

    const opened = request<ClientChannel>((cb) => client.exec(touch(first), cb))
    const askedFirst = await nthRequest(1)
    const internals = client as unknown as ClientInternals
    // The newest channel: the first is the session's refusals@rescue.
    const channel = Object.values(internals._chanMgr._channels).at(-1)
    // A second exec on the same session channel, which ssh2's API would never send.
    internals._protocol.exec(channel!.outgoing.id, touch(second), false)
    // The second is refused without a prompt, so the end user cannot be led to allow it.
    await waitFor(() => events.some((e) => e.event === 'refused' && e.request.includes('second exec')))
    host.answer(askedFirst.id, 'once')
    const running = await within(opened, 5000, 'the first exec')
    if (running instanceof Error) throw running
    await drain(running)
    await roundTrip(client)
    await new Promise((resolve) => setTimeout(resolve, 300))

    expect(fs.existsSync(first)).toBe(true)
    expect(fs.existsSync(second)).toBe(false)
    expect(events.filter((event) => event.event === 'channel-open')).toHaveLength(1)
    expect(events.filter((event) => event.event === 'consent-request')).toHaveLength(1)
    await end()
  })
})

/** The end user's shared terminal (`rescue host --share`): /bin/sh in a real PTY, in the test's folder. */
async function sharedShell() {
  let output = ''
  const share = await SharedTerminal.start({
    shell: '/bin/sh',
    args: [],
    cwd: dir,
    env: { ...process.env, PS1: '$ ' },
    window: { cols: 80, rows: 24 },
    onOutput: (data) => (output += data),
    onChange: () => {},
    onExit: () => {},
  })
  teardowns.push(async () => share.close())
  return { share, output: () => output }
}

describe('a technician client altered by the test, at a shared terminal', () => {
  it('watches nothing without view: not where nothing is shared, not when the end user denies it', async () => {
    const unshared = await pair({ interactive: false })
    const refused = await attempt<ClientChannel>((cb) => unshared.client.subsys('view@rescue', cb), 'view')
    expect(refused).toBeInstanceOf(Error)
    await unshared.end()
    expect(refusals(unshared.audit())).toEqual(['watching a terminal the end user does not share'])

    const { share } = await sharedShell()
    const { client, host, nthRequest, end, audit } = await pair({ interactive: true, share })
    const watching = attempt<ClientChannel>((cb) => client.subsys('view@rescue', cb), 'view', 8000)
    const asked = await nthRequest(1)
    expect(asked).toMatchObject({ permission: 'view', summary: expect.stringContaining('read only') })
    host.answer(asked.id, 'deny')
    expect(await watching).toBeInstanceOf(Error)
    expect(share.viewerCount).toBe(0)
    await end()
    const entries = audit()
    expectDeniedInAudit(entries, 'view', 'end-user')
    expect(channelOpens(entries)).toEqual([])
  })

  it('types nothing without control, and nothing once the end user takes control back', async () => {
    const { share, output } = await sharedShell()
    const { client, host, nthRequest, end, audit } = await pair({
      interactive: true,
      consentTimeoutMs: 10_000,
      share,
    })
    const marker = (name: string) => path.join(dir, name)
    const opened = attempt<ClientChannel>((cb) => client.subsys('view@rescue', cb), 'view', 8000)
    host.answer((await nthRequest(1)).id, 'once')
    const view = await opened
    if (view instanceof Error) throw view
    let seen = ''
    view.on('data', (chunk: Buffer) => (seen += chunk.toString('utf8')))
    view.write(encodeSize(60, 20))
    await waitFor(() => share.window.cols === 60, 5000, 'the smallest window to win')

    // Keys without control: dropped, logged once.
    view.write(encodeKeys(Buffer.from(`touch '${marker('without-control')}'\r`)))
    view.write(encodeKeys(Buffer.from(`touch '${marker('without-control-2')}'\r`)))
    await roundTrip(client)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(fs.existsSync(marker('without-control'))).toBe(false)
    expect(output()).not.toContain('without-control')

    // The end user's own typing reaches the watcher.
    share.typeLocal('echo from-the-end-user-$((6*7))\r')
    await waitFor(() => seen.includes('from-the-end-user-42'), 5000, 'the watcher to see the end user type')

    const asking = attempt<ClientChannel>((cb) => client.subsys('control@rescue', cb), 'control', 8000)
    const askedControl = await nthRequest(2)
    expect(askedControl.permission).toBe('control')
    host.answer(askedControl.id, 'session')
    const control = await asking
    if (control instanceof Error) throw control
    view.write(encodeKeys(Buffer.from(`touch '${marker('with-control')}'\r`)))
    await waitFor(() => fs.existsSync(marker('with-control')), 5000, 'the allowed keys to run')
    expect(share.lastTyped).toBe('technician')

    // Taken back: the very next key goes nowhere, and the session grant is forgotten.
    host.takeControlBack()
    view.write(encodeKeys(Buffer.from(`touch '${marker('after-take-back')}'\r`)))
    const again = attempt<ClientChannel>((cb) => client.subsys('control@rescue', cb), 'control again', 8000)
    const askedAgain = await nthRequest(3)
    host.answer(askedAgain.id, 'deny')
    expect(await again).toBeInstanceOf(Error)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(fs.existsSync(marker('after-take-back'))).toBe(false)
    await end()

    const entries = audit()
    // Once before control was given (for both lines), once after it was taken back.
    expect(refusals(entries).filter((what) => what.includes('shared terminal'))).toEqual([
      'typing in the shared terminal without control (the keys were dropped)',
      'typing in the shared terminal without control (the keys were dropped)',
    ])
    expect(entries.some((entry) => entry.event === 'control-taken-back' && entry.closedChannels === 1)).toBe(
      true,
    )
    // Asked again after the take-back, though it had been allowed for the session.
    const controlDecisions = auditRequests(entries, 'control').map((asked) =>
      auditDecision(entries, asked.id),
    )
    expect(controlDecisions).toMatchObject([
      { decision: 'session', by: 'end-user' },
      { decision: 'deny', by: 'end-user' },
    ])
    expect(channelOpens(entries).map((entry) => entry.kind)).toEqual(['view', 'control'])
  })
})

/** Sends one address on url@rescue as an altered client would (no check of its own) and reads the answer. */
async function sendUrl(client: ssh2.Client, text: string): Promise<{ opened?: boolean; error?: string }> {
  const channel = await attempt<ClientChannel>((cb) => client.subsys('url@rescue', cb), 'url@rescue')
  if (channel instanceof Error) throw channel
  channel.end(`${text}\n`)
  const answer = await drain(channel)
  return JSON.parse(answer.trim()) as { opened?: boolean; error?: string }
}

describe('a technician client altered by the test, opening web addresses', () => {
  it('opens no address with another scheme, control characters or no consent; each refusal logged', async () => {
    const opened = path.join(dir, 'opened')
    const opener = path.join(dir, 'opener.sh')
    fs.writeFileSync(opener, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${opened}'\n`, { mode: 0o700 })
    const previous = process.env.RESCUE_URL_OPENER
    process.env.RESCUE_URL_OPENER = opener
    teardowns.push(async () => {
      if (previous === undefined) delete process.env.RESCUE_URL_OPENER
      else process.env.RESCUE_URL_OPENER = previous
    })
    const { client, host, nthRequest, end, audit } = await pair({
      interactive: true,
      consentTimeoutMs: 10_000,
    })

    expect(await sendUrl(client, 'file:///etc/passwd')).toMatchObject({
      error: expect.stringMatching(/only http and https/),
    })
    expect(await sendUrl(client, 'https://acme.example/\u001b]52;c;aGk=\u0007')).toMatchObject({
      error: expect.stringMatching(/control or invisible/),
    })
    expect(await sendUrl(client, `https://acme.example/${'a'.repeat(3000)}`)).toMatchObject({
      error: expect.stringMatching(/at most 2000/),
    })

    const denied = sendUrl(client, 'https://denied.example/')
    const askedDenied = await nthRequest(1)
    expect(askedDenied).toMatchObject({ permission: 'url', detail: 'https://denied.example/' })
    host.answer(askedDenied.id, 'deny')
    expect(await denied).toMatchObject({ error: expect.stringMatching(/denied/) })

    const allowed = sendUrl(client, 'https://status.acme.example/help?q=1')
    host.answer((await nthRequest(2)).id, 'once')
    expect(await allowed).toEqual({ opened: true })
    await end()

    // Only the allowed address reached the opener, exactly as shown.
    expect(fs.readFileSync(opened, 'utf8')).toBe('https://status.acme.example/help?q=1\n')
    const entries = audit()
    const urlRefusals = refusals(entries).filter((what) => what.startsWith('opening'))
    expect(urlRefusals).toHaveLength(3)
    for (const entry of entries) expect(rawStrings(entry)).toEqual([])
    expectDeniedInAudit(entries, 'url', 'end-user', { detail: 'https://denied.example/' })
  })
})

describe('a technician client altered by the test, at the clipboard', () => {
  it('puts nothing on the clipboard too big, not text or not allowed; reads it only when allowed', async () => {
    const copied = path.join(dir, 'copied')
    const copy = path.join(dir, 'copy.sh')
    const paste = path.join(dir, 'paste.sh')
    fs.writeFileSync(copy, `#!/bin/sh\ncat >> '${copied}'\n`, { mode: 0o700 })
    fs.writeFileSync(paste, `#!/bin/sh\nprintf 'on the end user clipboard'\n`, { mode: 0o700 })
    const previous = { copy: process.env.RESCUE_CLIPBOARD_COPY, paste: process.env.RESCUE_CLIPBOARD_PASTE }
    process.env.RESCUE_CLIPBOARD_COPY = copy
    process.env.RESCUE_CLIPBOARD_PASTE = paste
    teardowns.push(async () => {
      for (const [name, value] of [
        ['RESCUE_CLIPBOARD_COPY', previous.copy],
        ['RESCUE_CLIPBOARD_PASTE', previous.paste],
      ] as const) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    })
    const { client, host, nthRequest, end, audit } = await pair({
      interactive: true,
      consentTimeoutMs: 10_000,
    })
    const send = async (line: string) => {
      const channel = await attempt<ClientChannel>((cb) => client.subsys('clipboard@rescue', cb), 'clipboard')
      if (channel instanceof Error) throw channel
      channel.end(`${line}\n`)
      return JSON.parse((await drain(channel)).trim()) as { ok?: boolean; text?: string; error?: string }
    }

    expect(await send(JSON.stringify({ op: 'push', text: 'x'.repeat(2001) }))).toMatchObject({
      error: expect.stringMatching(/at most 2000/),
    })
    expect(await send(JSON.stringify({ op: 'push', text: 'a\u0000b' }))).toMatchObject({
      error: expect.stringMatching(/only text/),
    })
    expect(await send('{"op":"format-disk"}')).toMatchObject({ error: 'a malformed clipboard request' })

    const denied = send(JSON.stringify({ op: 'push', text: 'denied text' }))
    const askedDenied = await nthRequest(1)
    expect(askedDenied).toMatchObject({ permission: 'clipboard', detail: 'denied text' })
    host.answer(askedDenied.id, 'deny')
    expect(await denied).toMatchObject({ error: expect.stringMatching(/denied/) })

    const pushed = send(JSON.stringify({ op: 'push', text: 'ping -c 3 192.168.1.1' }))
    host.answer((await nthRequest(2)).id, 'once')
    expect(await pushed).toEqual({ ok: true })
    const pulled = send(JSON.stringify({ op: 'pull' }))
    host.answer((await nthRequest(3)).id, 'once')
    expect(await pulled).toEqual({ text: 'on the end user clipboard' })
    await end()

    expect(fs.readFileSync(copied, 'utf8')).toBe('ping -c 3 192.168.1.1')
    const entries = audit()
    expect(refusals(entries).filter((what) => what.startsWith('a clipboard request'))).toHaveLength(3)
    expectDeniedInAudit(entries, 'clipboard', 'end-user', { detail: 'denied text' })
  })
})

/** Asks for a restart on reboot@rescue as an altered client would, and reads the answer. */
async function askReboot(
  client: ssh2.Client,
): Promise<{ scheduled?: boolean; graceMs?: number; error?: string }> {
  const channel = await attempt<ClientChannel>((cb) => client.subsys('reboot@rescue', cb), 'reboot@rescue')
  if (channel instanceof Error) throw channel
  channel.end()
  const answer = await drain(channel)
  return JSON.parse(answer.trim()) as { scheduled?: boolean; error?: string }
}

describe('a technician client altered by the test, restarting the computer', () => {
  /** A fake restart command, the ticket and the credential store in the test's folder. */
  function rebootPlace() {
    const calls = path.join(dir, 'reboot-calls')
    const script = path.join(dir, 'reboot.sh')
    fs.writeFileSync(script, `#!/bin/sh\necho restart >> '${calls}'\n`, { mode: 0o700 })
    const ticket = path.join(dir, 'state', 'resume-ticket.json')
    const names = [
      'RESCUE_REBOOT_COMMAND',
      'RESCUE_RESUME_TICKET',
      'XDG_CONFIG_HOME',
      'RESCUE_CREDENTIAL_STORE',
    ]
    const previous = names.map((name) => process.env[name])
    process.env.RESCUE_REBOOT_COMMAND = script
    process.env.RESCUE_RESUME_TICKET = ticket
    process.env.XDG_CONFIG_HOME = path.join(dir, 'config')
    process.env.RESCUE_CREDENTIAL_STORE = 'file'
    teardowns.push(async () => {
      names.forEach((name, index) => {
        if (previous[index] === undefined) delete process.env[name]
        else process.env[name] = previous[index]
      })
    })
    return { calls, ticket }
  }

  it('restarts nothing without the end user’s consent, writes no ticket, and logs the refusal', async () => {
    const { calls, ticket } = rebootPlace()
    const { client, host, nthRequest, end, audit } = await pair({
      interactive: true,
      consentTimeoutMs: 10_000,
    })
    const denied = askReboot(client)
    const asked = await nthRequest(1)
    expect(asked).toMatchObject({ permission: 'reboot' })
    host.answer(asked.id, 'deny')
    expect(await denied).toMatchObject({ error: expect.stringMatching(/denied/) })
    await end()
    expect(fs.existsSync(calls)).toBe(false)
    expect(fs.existsSync(ticket)).toBe(false)
    expectDeniedInAudit(audit(), 'reboot', 'end-user')
  })

  it('restarts nothing when nobody can answer', async () => {
    const { calls, ticket } = rebootPlace()
    const { client, end, audit } = await pair({ interactive: false })
    expect(await askReboot(client)).toMatchObject({ error: expect.any(String) })
    await end()
    expect(fs.existsSync(calls)).toBe(false)
    expect(fs.existsSync(ticket)).toBe(false)
    const entries = audit()
    expect(auditRequests(entries, 'reboot')).toHaveLength(1)
    expect(auditDecision(entries, auditRequests(entries, 'reboot')[0]!.id)).toMatchObject({
      decision: 'deny',
    })
    expect(entries.some((entry) => entry.event === 'reboot-scheduled')).toBe(false)
  })

  it('is held only as long as the gateway bounds a restart, and a ticket whose key is not its session’s is refused', async () => {
    const { ticket } = rebootPlace()
    await gw.close()
    gw = await startTestGateway({ maxRebootGraceMs: 3000 })
    // Another live session, whose id a ticket will name with the first one's keys.
    const other = await pair({ interactive: false })
    const { client, host, technician, nthRequest } = await pair({
      interactive: true,
      consentTimeoutMs: 10_000,
    })
    const asked = askReboot(client)
    host.answer((await nthRequest(1)).id, 'once')
    // The host asked for 15 minutes; the gateway holds it 3 s.
    expect(await asked).toMatchObject({ scheduled: true, graceMs: 15 * 60_000 })
    const opened = useTicket(ticket)
    const ended = await within(technician.session.done, 10_000, 'the gateway to give up on the restart')
    expect(ended).toMatchObject({
      by: 'gateway',
      reason: "the end user's computer did not come back from its restart within 3 s",
    })

    // This session's keys cannot rejoin another live session: the resume proof fails.
    const paired = other.events.find((event) => event.event === 'paired')
    const otherId = paired && 'sessionId' in paired ? paired.sessionId : ''
    expect(otherId).not.toBe(opened.sessionId)
    const intruder = await startHost({
      server: gw.url,
      entry: { resume: otherId },
      resume: { ...opened, sessionId: otherId },
      interactive: true,
      confirmWords: true,
      trustGateway: true,
      autoApprove: [],
      auditFile: path.join(dir, 'audit-intruder', 'audit.jsonl'),
      onEvent: () => {},
    })
    expect(await within(intruder.done, 15_000, 'the gateway to refuse the resume')).toMatchObject({
      reason: expect.stringContaining('the resume proof did not check out'),
    })
    // The other session goes on, untouched.
    expect(
      await attempt<ClientChannel>((cb) => other.client.subsys('chat@rescue', cb), 'chat'),
    ).not.toBeInstanceOf(Error)
  })

  it('rejoins once with the ticket, asks everything again, and refuses the ticket reused, changed, expired or of an ended session', async () => {
    const { calls, ticket } = rebootPlace()
    const { client, host, technician, nthRequest, audit } = await pair({
      interactive: true,
      consentTimeoutMs: 10_000,
    })
    const auditFile = path.join(dir, 'audit', 'audit.jsonl')
    const asked = askReboot(client)
    host.answer((await nthRequest(1)).id, 'once')
    expect(await asked).toMatchObject({ scheduled: true })
    const ended = await within(host.done, 5000, 'the host to leave for the restart')
    expect(ended.reason).toContain('after the restart run rescue host --resume')
    await waitFor(() => fs.existsSync(calls), 5000, 'the restart command')
    expect(fs.statSync(ticket).mode & 0o777).toBe(0o600)
    const copy = fs.readFileSync(ticket)

    // After the "restart": the ticket opens once, and the technician's session comes back.
    const opened = useTicket()
    expect(fs.existsSync(ticket)).toBe(false)
    const events: HostEvent[] = []
    const back = await startHost({
      server: gw.url,
      entry: { resume: opened.sessionId },
      resume: opened,
      interactive: true,
      confirmWords: true,
      trustGateway: true,
      autoApprove: [],
      auditFile,
      consentTimeoutMs: 10_000,
      onEvent: (event) => events.push(event),
    })
    teardowns.push(async () => {
      back.end()
      await within(back.done, 5000, 'the resumed host to end')
    })
    await within(technician.restarted, 10_000, 'the technician to see the host back')
    const after = await within(technician.ssh, 10_000, 'the new SSH connection')
    expect(after).not.toBe(client)
    // Nothing carried over: the command is asked again, and runs once allowed.
    const marker = path.join(dir, 'ran-after-restart')
    const running = technician.exec(touch(marker), {
      stdout: new PassThrough().resume(),
      stderr: new PassThrough().resume(),
    })
    await waitFor(
      () => events.some((event) => event.event === 'consent-request' && event.permission === 'exec'),
      5000,
      'the command to be asked',
    )
    const request = events.find(
      (event): event is RequestEvent => event.event === 'consent-request' && event.permission === 'exec',
    )!
    back.answer(request.id, 'once')
    expect(await within(running, 10_000, 'the command')).toMatchObject({ exitCode: 0 })
    expect(fs.existsSync(marker)).toBe(true)

    // Reused: the same ticket again (its key was forgotten when it was opened).
    fs.writeFileSync(ticket, copy, { mode: 0o600 })
    expect(() => useTicket()).toThrow(/already used/)

    // Changed: one byte of the sealed part.
    const fresh = { ...opened }
    writeTicket(fresh)
    const body = JSON.parse(fs.readFileSync(ticket, 'utf8')) as { sealed: string }
    const bytes = Buffer.from(body.sealed, 'base64')
    bytes[10]! ^= 1
    fs.writeFileSync(ticket, JSON.stringify({ ...body, sealed: bytes.toString('base64') }), { mode: 0o600 })
    expect(() => useTicket()).toThrow(/was changed/)

    // Expired.
    writeTicket(fresh, 1)
    expect(() => useTicket(ticket, Date.now() + 10)).toThrow(/expired/)

    // Of a session that has ended: the gateway refuses it.
    back.end()
    await within(back.done, 5000, 'the resumed host to end')
    writeTicket(fresh)
    const stale = useTicket()
    await expect(
      startHost({
        server: gw.url,
        entry: { resume: stale.sessionId },
        resume: stale,
        interactive: true,
        confirmWords: true,
        trustGateway: true,
        autoApprove: [],
        auditFile: path.join(dir, 'audit-2', 'audit.jsonl'),
        onEvent: () => {},
      }),
    ).rejects.toThrow(/ended|cannot be resumed/)

    const entries = audit()
    expect(entries.filter((entry) => entry.event === 'reboot-scheduled')).toHaveLength(1)
    expect(entries.filter((entry) => entry.event === 'session-rejoined')).toHaveLength(1)
  })
})

/** An end user's screen that records what a presentation drew on it, and stops it on demand. */
function recordingStage() {
  let drawn = ''
  let shows = 0
  let stop: (() => void) | undefined
  let showing = false
  const stage: PresentStage = {
    get busy() {
      return showing
    },
    show(options) {
      shows++
      showing = true
      stop = options.onStop
      return {
        window: { cols: 70, rows: 20 },
        write: (data) => (drawn += data.toString('latin1')),
        close: () => (showing = false),
      }
    },
  }
  return {
    stage,
    drawn: () => drawn,
    shows: () => shows,
    showing: () => showing,
    stopWatching: () => stop?.(),
  }
}

describe('a technician client altered by the test, presenting its terminal', () => {
  it('shows nothing where there is no screen, or when the end user declined; what it shows is filtered, and the end user stops it', async () => {
    const unseen = await pair({ interactive: false })
    const refused = await attempt<ClientChannel>(
      (cb) => unseen.client.subsys('present@rescue', cb),
      'present',
    )
    expect(refused).toBeInstanceOf(Error)
    await unseen.end()
    expect(refusals(unseen.audit())).toEqual(['a presentation: this screen cannot show one'])

    const screen = recordingStage()
    const { client, host, nthRequest, end, audit } = await pair({
      interactive: true,
      consentTimeoutMs: 10_000,
      stage: screen.stage,
    })
    // Declined: nothing shown.
    const declined = attempt<ClientChannel>((cb) => client.subsys('present@rescue', cb), 'present', 8000)
    const asked = await nthRequest(1)
    expect(asked).toMatchObject({ permission: 'present', summary: expect.stringContaining('read only') })
    host.answer(asked.id, 'deny')
    expect(await declined).toBeInstanceOf(Error)
    expect(screen.shows()).toBe(0)

    // Allowed once: the first frame is the end user's window; output is drawn without OSC 52.
    const opening = attempt<ClientChannel>((cb) => client.subsys('present@rescue', cb), 'present again', 8000)
    host.answer((await nthRequest(2)).id, 'once')
    const channel = await opening
    if (channel instanceof Error) throw channel
    const frames = new ViewFrameDecoder(['size'])
    const sizes: unknown[] = []
    channel.on('data', (chunk: Buffer) => sizes.push(...frames.feed(chunk)))
    let exitMessage: string | undefined
    channel.on(
      'exit',
      (_code: unknown, _signal: unknown, _dumped: unknown, message?: string) => (exitMessage = message),
    )
    const closed = new Promise<void>((resolve) => channel.on('close', () => resolve()))
    channel.write(encodeOutput(Buffer.from('shown \u001b]52;c;ZXZpbA==\u0007 whole\r\n')))
    await waitFor(() => screen.drawn().includes('whole'), 5000, 'the output to be drawn')
    expect(screen.drawn()).toBe('shown  whole\r\n')
    expect(sizes).toEqual([{ type: 'size', cols: 70, rows: 20 }])
    // A second presentation while one shows is refused unasked.
    expect(
      await attempt<ClientChannel>((cb) => client.subsys('present@rescue', cb), 'a second'),
    ).toBeInstanceOf(Error)

    // The end user stops watching: the channel closes saying so, and it is logged.
    screen.stopWatching()
    await within(closed, 5000, 'the presentation to close')
    expect(exitMessage).toBe('the end user stopped watching')
    expect(screen.showing()).toBe(false)

    // Keys on a present channel are no frame it carries: closed, logged, nothing typed anywhere.
    const third = attempt<ClientChannel>((cb) => client.subsys('present@rescue', cb), 'a third', 8000)
    host.answer((await nthRequest(3)).id, 'once')
    const typing = await third
    if (typing instanceof Error) throw typing
    typing.resume()
    const typingClosed = new Promise<void>((resolve) => typing.on('close', () => resolve()))
    typing.write(encodeKeys(Buffer.from('rm -rf ~\r')))
    await within(typingClosed, 5000, 'the channel with keys on it to close')
    expect(screen.showing()).toBe(false)
    await end()

    const entries = audit()
    expect(auditRequests(entries, 'present').map((asked) => auditDecision(entries, asked.id))).toMatchObject([
      { decision: 'deny', by: 'end-user' },
      { decision: 'once', by: 'end-user' },
      { decision: 'once', by: 'end-user' },
    ])
    // The first session's refusal is in the same log (one audit file per test).
    expect(refusals(entries)).toEqual([
      'a presentation: this screen cannot show one',
      'a second presentation while one is shown',
      'a malformed frame on the present channel (unknown frame type 1)',
    ])
    const presents = channelOpens(entries).filter(
      (entry) => entry.event === 'channel-open' && entry.kind === 'present',
    )
    expect(presents).toHaveLength(2)
    expect(entries).toContainEqual(
      expect.objectContaining({ event: 'stopped-watching', channel: presents[0]!.channel }),
    )
  })
})

describe('technicians invited into a session (rescue invite)', () => {
  /** Bob, a second technician in the admins group, logged in: his token. */
  async function bobToken(): Promise<string> {
    const { oneTimePassword } = await api.admin.addUser(gw.url, gw.token, {
      email: 'bob@acme.example',
      name: 'Bob Jones',
      groups: ['admins'],
    })
    const login = await api.login(gw.url, {
      email: 'bob@acme.example',
      password: oneTimePassword,
      newPassword: 'another horse battery',
    })
    if (!('token' in login)) throw new Error('bob could not log in')
    return login.token
  }

  /** The lead invites Bob; Bob pairs in his own session and the end user confirms his words. */
  async function inviteBob(lead: Awaited<ReturnType<typeof pair>>) {
    const token = await bobToken()
    const paired = lead.events.find((event) => event.event === 'paired')
    if (paired?.event !== 'paired') throw new Error('the lead is not paired')
    const invited = await api.invite(gw.url, gw.token, paired.sessionId, 'bob@acme.example')
    expect(invited.sessionId).not.toBe(paired.sessionId)
    const bob = await startTechnician({
      server: gw.url,
      entry: { sessionId: invited.sessionId },
      token,
      onEvent: () => {},
    })
    teardowns.push(async () => {
      bob.session.end()
      await within(bob.session.done, 5000, "bob's session to end")
    })
    const client = await within(bob.ssh, 10_000, "Bob's SSH to come up")
    const asked = () =>
      lead.events.find((event) => event.event === 'words-asked' && event.technician === 'bob@acme.example')
    await waitFor(() => asked() !== undefined, 5000, "the end user asked about Bob's words")
    lead.host.confirmWords(true)
    await within(bob.words, 5000, "Bob's words to be confirmed")
    return { bob, client, token, sessionId: invited.sessionId, leadSessionId: paired.sessionId }
  }

  it("gives an invited technician none of the lead's grants: asked again, in his name, and denied", async () => {
    const lead = await pair({ interactive: true, consentTimeoutMs: 10_000 })
    const granted = path.join(dir, 'granted-to-the-lead')
    const first = attempt<ClientChannel>((cb) => lead.client.exec(touch(granted), cb), 'the lead exec', 8000)
    lead.host.answer((await lead.nthRequest(1)).id, 'session')
    const channel = await first
    if (channel instanceof Error) throw channel
    await drain(channel)
    expect(fs.existsSync(granted)).toBe(true)

    const { client, sessionId } = await inviteBob(lead)
    const marker = path.join(dir, 'bob-used-the-lead-grant')
    const bobs = attempt<ClientChannel>((cb) => client.exec(touch(marker), cb), "Bob's exec", 8000)
    const asked = await lead.nthRequest(2)
    expect(asked).toMatchObject({ permission: 'exec', technician: 'Bob Jones', detail: touch(marker) })
    lead.host.answer(asked.id, 'deny')
    expect(await bobs).toBeInstanceOf(Error)
    expect(fs.existsSync(marker)).toBe(false)

    const entries = lead.audit()
    const bobsRequest = auditRequests(entries, 'exec').find((entry) => entry.detail === touch(marker))
    expect(bobsRequest).toMatchObject({ session: sessionId, technician: 'Bob Jones' })
    expect(auditDecision(entries, bobsRequest!.id)).toMatchObject({ decision: 'deny', by: 'end-user' })
    expect(entries).toContainEqual(
      expect.objectContaining({
        event: 'session-start',
        session: sessionId,
        technician: expect.objectContaining({ email: 'bob@acme.example' }),
        invitedBy: expect.objectContaining({ email: ADMIN.email }),
      }),
    )
  })

  it('lets only the lead invite, and the lead hand the lead to a technician present', async () => {
    const lead = await pair({ interactive: true, consentTimeoutMs: 10_000 })
    const { token, leadSessionId, sessionId } = await inviteBob(lead)
    // Bob is in, but does not lead: he may not invite, nor take the lead himself.
    await expect(api.invite(gw.url, token, sessionId, ADMIN.email)).rejects.toThrow(
      /only the lead technician/,
    )
    await expect(api.handOverLead(gw.url, token, leadSessionId, ADMIN.email)).rejects.toThrow(
      /only the lead technician/,
    )
    await expect(api.handOverLead(gw.url, gw.token, leadSessionId, 'nobody@acme.example')).rejects.toThrow(
      /no technician nobody@acme.example/,
    )
    await api.handOverLead(gw.url, gw.token, leadSessionId, 'bob@acme.example')
    await waitFor(
      () =>
        lead.events.some((event) => event.event === 'lead-changed' && event.to.email === 'bob@acme.example'),
      5000,
      'the end user to be told who leads',
    )
    // Now the first technician is the one who may not invite.
    await expect(api.invite(gw.url, gw.token, leadSessionId, 'bob@acme.example')).rejects.toThrow(
      /only the lead technician/,
    )
    expect(lead.audit()).toContainEqual(
      expect.objectContaining({ event: 'lead-changed', session: leadSessionId }),
    )
    expect((await gw.store.findSession(leadSessionId))?.lead_id).toBe(
      (await gw.store.findUserByEmail('bob@acme.example'))?.id,
    )
  })

  it('lets a removed technician back in neither by taking his session again nor by resuming it', async () => {
    const lead = await pair({ interactive: true, consentTimeoutMs: 10_000 })
    const { bob, token, sessionId, leadSessionId } = await inviteBob(lead)
    expect(lead.host.remove('bob@acme.example')).toBe(true)
    const ended = await within(bob.session.done, 5000, "Bob's session to end")
    expect(ended).toMatchObject({ by: 'host', reason: 'the end user removed you from the session' })

    await expect(
      startTechnician({ server: gw.url, entry: { sessionId }, token, onEvent: () => {} }),
    ).rejects.toThrow(/removed you from this session/)
    const resumed = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/ws/technician`, {
        headers: { authorization: `Bearer ${token}`, 'rescue-resume': sessionId },
      })
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0))
      socket.on('open', () => reject(new Error('the gateway let a removed technician resume')))
      socket.on('error', () => {})
    })
    expect(resumed).toBe(403)

    // The end user's session with the lead goes on; the log says who did what.
    const still = attempt<ClientChannel>((cb) => lead.client.exec('true', cb), 'the lead exec after', 8000)
    lead.host.answer((await lead.nthRequest(1)).id, 'once')
    expect(await still).not.toBeInstanceOf(Error)
    const events = await gw.store.listSessionEvents(sessionId)
    expect(events.filter((event) => event.event === 'rejoin-refused')).toHaveLength(2)
    expect((await gw.store.findInvitation(sessionId))?.state).toBe('removed')
    expect((await gw.store.listSessionEvents(leadSessionId)).map((event) => event.event)).toContain('invited')
    expect(lead.audit()).toContainEqual(
      expect.objectContaining({
        event: 'technician-removed',
        session: sessionId,
        technician: expect.objectContaining({ email: 'bob@acme.example' }),
      }),
    )
  })

  /** What the gateway answers a technician resuming `sessionId` over a fresh link (the upgrade's status). */
  function resumeStatus(token: string, sessionId: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/ws/technician`, {
        headers: { authorization: `Bearer ${token}`, 'rescue-resume': sessionId },
      })
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0))
      socket.on('open', () => {
        socket.terminate()
        reject(new Error('the gateway let the technician try to resume'))
      })
      socket.on('error', () => {})
    })
  }

  it('lets the first technician leave after handing the lead over: the others go on, and they cannot resume', async () => {
    const lead = await pair({ interactive: true, consentTimeoutMs: 10_000 })
    const { bob, client, leadSessionId } = await inviteBob(lead)
    await api.handOverLead(gw.url, gw.token, leadSessionId, 'bob@acme.example')
    await waitFor(() => lead.events.some((event) => event.event === 'lead-changed'), 5000, 'the new lead')

    lead.technician.session.end()
    await within(lead.technician.session.done, 5000, "the first technician's session to end")
    await waitFor(
      () => lead.events.some((event) => event.event === 'technician-left' && event.first === true),
      5000,
      'the end user to be told the first technician left',
    )
    // Bob goes on: his requests still reach the end user, who answers them.
    const still = attempt<ClientChannel>((cb) => client.exec('true', cb), 'bob exec after', 8000)
    lead.host.answer((await lead.nthRequest(1)).id, 'once')
    expect(await still).not.toBeInstanceOf(Error)
    expect(lead.events.some((event) => event.event === 'ended')).toBe(false)

    // Who left on purpose does not come back by resuming: the key is gone, here and in the store.
    expect(await resumeStatus(gw.token, leadSessionId)).toBe(410)
    expect((await gw.store.findSession(leadSessionId))?.technician_resume_key).toBeNull()
    expect((await gw.store.listSessionEvents(leadSessionId)).map((event) => event.event)).toContain(
      'technician-left',
    )
    expect(lead.audit()).toContainEqual(
      expect.objectContaining({
        event: 'technician-left',
        session: leadSessionId,
        technician: expect.objectContaining({ email: ADMIN.email }),
      }),
    )

    // The end user removes Bob, the last one: nobody is left to help, so the session ends.
    expect(lead.host.remove('bob@acme.example')).toBe(true)
    await within(bob.session.done, 5000, "Bob's session to end")
    const ended = await within(lead.host.done, 5000, "the end user's session to end")
    expect(ended).toMatchObject({ by: 'host', reason: 'every technician has left the session' })
    expect(ended.code).toBeUndefined()
  })

  it('ends the session for everyone when the lead leaves, saying who', async () => {
    const lead = await pair({ interactive: true, consentTimeoutMs: 10_000 })
    const { bob, leadSessionId } = await inviteBob(lead)
    await api.handOverLead(gw.url, gw.token, leadSessionId, 'bob@acme.example')
    await waitFor(() => lead.events.some((event) => event.event === 'lead-changed'), 5000, 'the new lead')
    bob.session.end()
    const reason = 'the lead technician bob@acme.example ended the session'
    expect(await within(lead.technician.session.done, 5000, "the first technician's end")).toMatchObject({
      reason,
    })
    expect(await within(lead.host.done, 5000, "the end user's end")).toMatchObject({ reason })
  })
})
