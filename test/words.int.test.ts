/**
 * The security words' gate, against a gateway that pairs with each side separately: the test plays
 * that gateway's part (it is the technician to the end user and the end user to the technician,
 * relaying SSH between the two pairings), so the two screens show different words. An attended
 * host whose end user has not confirmed them shows nothing, grants nothing (not even what
 * --auto-approve names) and runs nothing; a "no" or silence ends the session, saying why.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ssh2, { type ClientChannel, type ServerChannel } from 'ssh2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readAuditLog } from '../src/core/audit/index.js'
import { WORDS_MISMATCH, WORDS_UNCONFIRMED } from '../src/core/protocol/control-messages.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import { startSession } from '../src/core/session/index.js'
import { generateSshKeyPair } from '../src/core/ssh/keys.js'
import { startTechnician, type TechnicianEvent } from '../src/core/technician/index.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

let gw: TestGateway
let dir: string
const teardowns: (() => Promise<unknown>)[] = []

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-words-'))
  gw = await startTestGateway()
})
afterEach(async () => {
  for (const teardown of teardowns.splice(0)) await teardown().catch(() => {})
  await gw.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

const touch = (file: string) => `touch '${file}'`

/** An attended end user's host (a terminal to answer on), `exec` even pre-approved. */
async function attendedHost(pin: string, wordsTimeoutMs: number) {
  const events: HostEvent[] = []
  const auditFile = path.join(dir, 'audit.jsonl')
  const host = await startHost({
    server: gw.url,
    entry: { pin },
    interactive: true,
    confirmWords: true,
    // --auto-approve needs a --trust key or the operator's explicit word on the gateway: the test gives the latter.
    trustGateway: true,
    autoApprove: ['exec'],
    consentTimeoutMs: 10_000,
    wordsTimeoutMs,
    auditFile,
    onEvent: (event) => events.push(event),
  })
  teardowns.push(async () => {
    host.end()
    await host.done
  })
  const audit = () => {
    const { entries, skipped } = readAuditLog(auditFile)
    expect(skipped).toBe(0)
    return entries
  }
  return { host, events, audit }
}

/** Pipes a channel to its twin both ways, with the exit status. */
function join(local: ServerChannel, remote: ClientChannel): void {
  local.pipe(remote).pipe(local)
  remote.on('exit', (code: number | null) => local.exit(code ?? 1))
  remote.on('close', () => local.end())
}

/**
 * The gateway in the middle: it takes the end user's PIN as a technician of its own, gives the real
 * technician a second PIN where it plays the end user, and relays each SSH request of the real
 * technician to the end user's host as its own. Two pairings, two sets of words.
 */
async function gatewayInTheMiddle(hostPin: string) {
  const toHost = await startTechnician({
    server: gw.url,
    entry: { pin: hostPin },
    token: gw.token,
    onEvent: () => {},
  })
  teardowns.push(async () => {
    toHost.session.end()
    await toHost.session.done
  })
  const upstream = await toHost.ssh
  const technicianPin = await gw.newPin()
  /** The real technician's requests relayed to the end user's host so far. */
  const relayed: string[] = []
  const keys = generateSshKeyPair()
  const asHost = await startSession({
    server: gw.url,
    entry: { pin: technicianPin },
    role: 'host',
    sshPublicKey: keys.publicKey,
    onEvent: () => {},
    onSecured({ transport }) {
      const server = new ssh2.Server({ hostKeys: [keys.privateKey] }, (connection) => {
        connection.on('authentication', (context) => context.accept())
        connection.on('error', () => {})
        connection.on('ready', () =>
          connection.on('session', (acceptSession) => {
            const session = acceptSession()
            session.on('exec', (accept, reject, info) => {
              relayed.push(info.command)
              upstream.exec(info.command, (error, remote) => (error ? reject?.() : join(accept(), remote)))
            })
            session.on('subsystem', (accept, reject, info) =>
              upstream.subsys(info.name, (error, remote) => (error ? reject?.() : join(accept(), remote))),
            )
          }),
        )
      })
      server.injectSocket(transport as never)
    },
  })
  teardowns.push(async () => {
    asHost.end()
    await asHost.done
  })
  return { technicianPin, relayed }
}

/** The real technician, on the PIN the gateway in the middle gave them. */
async function realTechnician(pin: string) {
  const events: TechnicianEvent[] = []
  const technician = await startTechnician({
    server: gw.url,
    entry: { pin },
    token: gw.token,
    onEvent: (event) => events.push(event),
  })
  teardowns.push(async () => {
    technician.session.end()
    await technician.session.done
  })
  return { technician, events, client: await technician.ssh }
}

const sasOf = (events: readonly { event: string }[]) =>
  (events.find((event) => event.event === 'paired') as { sas: string } | undefined)?.sas

describe('a gateway that pairs with each side separately', () => {
  it('gets no grant from an attended host whose end user has not confirmed the words, and nothing runs', async () => {
    const hostPin = await gw.newPin()
    const { host, events, audit } = await attendedHost(hostPin, 4000)
    let hostEnded = false
    void host.done.then(() => (hostEnded = true))
    const { technicianPin, relayed } = await gatewayInTheMiddle(hostPin)
    const { technician, events: technicianEvents, client } = await realTechnician(technicianPin)
    expect(sasOf(events)).toBeDefined()
    expect(sasOf(technicianEvents)).toBeDefined()
    expect(sasOf(events)).not.toBe(sasOf(technicianEvents))

    // The technician's request, relayed to the end user's host before anyone compared the words.
    const marker = path.join(dir, 'ran')
    const outcome = new Promise<unknown>((resolve) =>
      client.exec(touch(marker), (error, channel) => {
        if (error) return resolve(error)
        channel.on('close', () => resolve('closed'))
        channel.resume()
      }),
    )
    await waitFor(() => relayed.length === 1, 5000, 'the request to reach the host')
    // It reached the host while the session was up, and waits there unseen.
    expect(hostEnded).toBe(false)
    const ended = await host.done
    expect(ended).toMatchObject({ by: 'host', reason: WORDS_UNCONFIRMED, code: 'pairingFailed' })
    await Promise.race([outcome, new Promise((resolve) => setTimeout(resolve, 500))])

    expect(fs.existsSync(marker)).toBe(false)
    // Not shown, not granted, not even the pre-approved exec.
    expect(events.filter((event) => event.event === 'consent-request')).toEqual([])
    expect(events.filter((event) => event.event === 'consent-decision')).toEqual([])
    expect(events.filter((event) => event.event === 'channel-open')).toEqual([])
    const entries = audit()
    // The operator's --trust-gateway warning comes first: auto-approve rests on the gateway's word.
    expect(entries.map((entry) => entry.event)).toEqual([
      'trust-gateway',
      'session-start',
      'auto-approve',
      'words-rejected',
      'session-end',
    ])
    expect(entries[3]).toMatchObject({ by: 'timeout' })
    expect(entries[4]).toMatchObject({ reason: WORDS_UNCONFIRMED })
    // The technician heard no confirmation: the host refused to give one, and the middle cannot forge it.
    expect(technicianEvents.map((event) => event.event)).toContain('words-waiting')
    expect(technicianEvents.map((event) => event.event)).not.toContain('words-confirmed')
    technician.session.end()
    await expect(technician.words).rejects.toThrow()
  })

  it('is cut off when the end user says the words differ: the session ends, saying why, on both sides', async () => {
    const hostPin = await gw.newPin()
    const { host, events, audit } = await attendedHost(hostPin, 20_000)
    const { technicianPin } = await gatewayInTheMiddle(hostPin)
    const { client } = await realTechnician(technicianPin)
    const marker = path.join(dir, 'ran')
    client.exec(touch(marker), () => {})
    await waitFor(() => events.some((event) => event.event === 'words-asked'))

    host.confirmWords(false)
    expect(await host.done).toMatchObject({ by: 'host', reason: WORDS_MISMATCH, code: 'pairingFailed' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(fs.existsSync(marker)).toBe(false)
    expect(events.filter((event) => event.event === 'consent-request')).toEqual([])
    const entries = audit()
    expect(entries.filter((entry) => entry.event === 'words-rejected')).toMatchObject([{ by: 'end-user' }])
    expect(entries.at(-1)).toMatchObject({ event: 'session-end', reason: WORDS_MISMATCH })
  })
})

describe('an honest gateway: the words match', () => {
  it('holds a request made before the end user confirmed, unseen; shows it once they did, with its whole consent time', async () => {
    const pin = await gw.newPin()
    const { host, events, audit } = await attendedHost(pin, 20_000)
    // Nothing pre-approved counts before the words are confirmed; this host pre-approves exec, so
    // the held request is a sysinfo, which it must ask about.
    const { technician, events: technicianEvents, client } = await realTechnician(pin)
    expect(sasOf(technicianEvents)).toBe(sasOf(events))
    const held = new Promise<Error | ClientChannel>((resolve) =>
      client.subsys('sysinfo@rescue', (error, channel) => resolve(error ?? channel)),
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(events.filter((event) => event.event === 'consent-request')).toEqual([])
    expect(technicianEvents.map((event) => event.event)).toContain('words-waiting')

    const confirmedAt = Date.now()
    host.confirmWords(true)
    expect(await technician.words).toBe('confirmed')
    expect(technicianEvents.map((event) => event.event)).toContain('words-confirmed')
    await waitFor(() => events.some((event) => event.event === 'consent-request'))
    const asked = events.find((event) => event.event === 'consent-request') as {
      id: string
      deadline: string
    }
    // Its deadline started when it was shown, not when it was sent.
    expect(Date.parse(asked.deadline)).toBeGreaterThanOrEqual(confirmedAt + 10_000 - 50)
    host.answer(asked.id, 'deny')
    expect(await held).toBeInstanceOf(Error)

    host.end()
    await host.done
    const entries = audit()
    expect(entries.map((entry) => entry.event).slice(0, 5)).toEqual([
      'trust-gateway',
      'session-start',
      'auto-approve',
      'words-confirmed',
      'consent-request',
    ])
    const sessionId = entries[1]!.session
    await waitFor(async () =>
      (await gw.store.listSessionEvents(sessionId)).some((event) => event.event === 'words-confirmed'),
    )
  })

  it('a "no" ends the session on both sides with the same reason, and the technician exits as a failed pairing', async () => {
    const pin = await gw.newPin()
    const { host, events } = await attendedHost(pin, 20_000)
    const { technician } = await realTechnician(pin)
    await waitFor(() => events.some((event) => event.event === 'words-asked'))
    host.confirmWords(false)
    const expected = { reason: WORDS_MISMATCH, code: 'pairingFailed' }
    expect(await host.done).toMatchObject({ by: 'host', ...expected })
    expect(await technician.session.done).toMatchObject({ by: 'host', ...expected })
    await expect(technician.words).rejects.toMatchObject({ code: 'pairingFailed' })
  })
})
