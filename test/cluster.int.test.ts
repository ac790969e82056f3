/**
 * Three gateways on one PostgreSQL database behave as one service: a PIN made on one pairs sides
 * that reached two others, a shared queue looks the same from all three and a race to take a
 * session has one winner however the racers are spread, a guesser spreading wrong PINs over them
 * is slowed as on one, and a session whose gateway is cut off resumes through another. Real
 * gateways, hosts and technicians in this process; a TCP proxy of the test's own stands in front
 * of the gateway that goes away. Runs only where RESCUE_TEST_PG_URL names a server.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { initOrganisation, login } from '../src/core/accounts/index.js'
import { api, openGatewaySocket } from '../src/core/client/index.js'
import type { Permission } from '../src/core/consent/index.js'
import { UserError } from '../src/core/errors.js'
import { startGateway, type Gateway } from '../src/core/gateway/index.js'
import { CLUSTER_PATH, TICKET_HEADER } from '../src/core/gateway/cluster.js'
import { LogCipher } from '../src/core/gateway/log-cipher.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import { openRemoteShell, runRemoteCommand } from '../src/core/ssh/technician-client.js'
import { openStore, type Store } from '../src/core/store/index.js'
import { SECRET_KEY_FILE } from '../src/core/store/secret-key.js'
import { startTechnician, type TechnicianEvent } from '../src/core/technician/index.js'
import { startCutProxy } from './helpers/cut-proxy.js'
import { waitFor } from './helpers/gateway.js'
import { freshPostgresSchema, PG_SKIP_MESSAGE, TEST_PG_URL } from './helpers/postgres.js'

if (!TEST_PG_URL) console.log(PG_SKIP_MESSAGE)

const ADMIN = { email: 'alice@acme.example', password: 'correct horse battery', name: 'Alice' }
const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Cluster {
  gateways: Gateway[]
  stores: Store[]
  token: string
}

/** Three gateways on one fresh schema, sharing the secret key and the session log key as operators do. */
async function cluster(options: { clusterUrls?: (string | undefined)[] } = {}): Promise<Cluster> {
  const database = await freshPostgresSchema()
  cleanups.push(() => database.drop())
  const key = randomBytes(32)
  const logCipher = LogCipher.forDataDir('', { RESCUE_LOG_KEY: randomBytes(32).toString('base64') })
  const gateways: Gateway[] = []
  const stores: Store[] = []
  for (let index = 0; index < 3; index++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-cluster-'))
    fs.writeFileSync(path.join(dir, SECRET_KEY_FILE), key.toString('base64'), { mode: 0o600 })
    const store = await openStore({ dataDir: dir, databaseUrl: database.url })
    if (index === 0) await initOrganisation(store, ADMIN)
    const clusterUrl = options.clusterUrls?.[index]
    const gateway = await startGateway({
      store,
      host: '127.0.0.1',
      port: 0,
      logCipher,
      heartbeatMs: 300,
      ...(clusterUrl ? { clusterUrl } : {}),
    })
    cleanups.push(async () => {
      await gateway.close()
      await store.close()
      fs.rmSync(dir, { recursive: true, force: true })
    })
    gateways.push(gateway)
    stores.push(store)
  }
  const { token } = await login(stores[0]!, ADMIN.email, ADMIN.password)
  return { gateways, stores, token }
}

/** An end user with no terminal, approving `autoApprove`, through `server`; ended with the test. */
async function hostOn(
  server: string,
  entry: { pin: string } | { channelSecret: string },
  autoApprove: Permission[] = [],
) {
  const events: HostEvent[] = []
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-cluster-host-'))
  const host = await startHost({
    server,
    entry,
    interactive: false,
    confirmWords: false,
    autoApprove,
    // These tests are about where sessions live, not the technician's identity.
    trustGateway: true,
    auditFile: path.join(dir, 'audit.jsonl'),
    onEvent: (event) => events.push(event),
  })
  cleanups.push(async () => {
    host.end()
    await host.done
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return { host, events }
}

async function technicianOn(server: string, entry: { pin: string } | { sessionId: string }, token: string) {
  const events: TechnicianEvent[] = []
  const technician = await startTechnician({ server, entry, token, onEvent: (event) => events.push(event) })
  cleanups.push(async () => {
    technician.session.end()
    await technician.session.done
  })
  return { technician, events }
}

/** What a command printed on the end user's machine. */
async function run(
  client: Awaited<ReturnType<typeof startTechnician>>['ssh'],
  command: string,
): Promise<string> {
  const stdout = new PassThrough()
  const chunks: Buffer[] = []
  stdout.on('data', (chunk: Buffer) => chunks.push(chunk))
  await runRemoteCommand(await client, command, { stdout, stderr: new PassThrough() })
  return Buffer.concat(chunks).toString('utf8')
}

describe.skipIf(!TEST_PG_URL)('three gateways on one database', () => {
  it('pairs an end user on gateway B with a technician on gateway C by a PIN made on gateway A', async () => {
    const { gateways, stores, token } = await cluster()
    const [a, b, c] = gateways as [Gateway, Gateway, Gateway]
    const { pin } = await api.createPin(a.url, token)
    const { events: hostEvents } = await hostOn(b.url, { pin }, ['exec'])
    await waitFor(() => hostEvents.some((event) => event.event === 'waiting'), 5000, 'the end user waiting')
    const { technician, events } = await technicianOn(c.url, { pin }, token)
    await technician.ssh
    const hostPaired = hostEvents.find((event) => event.event === 'paired') as { sas: string }
    const technicianPaired = events.find((event) => event.event === 'paired') as { sas: string }
    expect(hostPaired.sas).toMatch(/\w/)
    expect(technicianPaired.sas).toEqual(hostPaired.sas)
    // Bytes cross from C to B and back: a command runs on the end user's side.
    expect(await run(technician.ssh, 'echo $((6 * 7))')).toBe('42\n')
    // The room lives where the end user came first; C only relayed the technician to it.
    const { sessionId } = hostEvents.find((event) => event.event === 'waiting') as { sessionId: string }
    const row = await stores[0]!.findSession(sessionId)
    expect(row?.gateway_id).toBe(b.id)
    expect(b.rendezvous.openSessions).toBe(1)
    expect(c.rendezvous.openSessions).toBe(0)
    // A request about the session reaching C is answered by B, which has the room.
    await expect(api.checkPermissions(c.url, token, sessionId, ['exec'])).resolves.toEqual({
      allowed: ['exec'],
    })
    // Used once, everywhere: the same PIN is refused on the third gateway.
    await expect(technicianOn(a.url, { pin }, token)).rejects.toMatchObject({ code: 'pinUsed' })
  })

  it('shows a shared queue the same on every gateway; 20 technicians racing over the three get one winner', async () => {
    const { gateways, token } = await cluster()
    const [a] = gateways as [Gateway, Gateway, Gateway]
    await api.admin.addGroup(a.url, token, 'helpdesk')
    await api.admin.setGroup(a.url, token, 'helpdesk', { allow: ['exec'] })
    const { secret } = await api.admin.createChannelLink(a.url, token, { group: 'helpdesk' })
    // Twenty technician accounts: script tokens, since twenty password hashings would only slow the test.
    const tokens: string[] = []
    for (let index = 0; index < 20; index++) {
      const options = { name: `tech${index}`, group: 'helpdesk', ttlSeconds: 3600 }
      tokens.push((await api.admin.createToken(gateways[index % 3]!.url, token, options)).token)
    }
    const { events: hostEvents } = await hostOn(gateways[1]!.url, { channelSecret: secret }, ['exec'])
    await waitFor(() => hostEvents.some((event) => event.event === 'waiting'), 5000, 'the end user waiting')
    const { sessionId } = hostEvents.find((event) => event.event === 'waiting') as { sessionId: string }
    for (const [index, gateway] of gateways.entries()) {
      expect(
        (await api.queue(gateway.url, tokens[index]!)).sessions,
        `the queue on gateway ${index}`,
      ).toEqual([expect.objectContaining({ sessionId, channel: 'helpdesk', hostAddress: '127.0.0.1' })])
    }
    const race = await Promise.allSettled(
      tokens.map((racer, index) =>
        startTechnician({
          server: gateways[index % 3]!.url,
          entry: { sessionId },
          token: racer,
          onEvent: () => {},
        }),
      ),
    )
    const won = race.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
    const lost = race.flatMap((result) => (result.status === 'rejected' ? [result.reason as UserError] : []))
    for (const winner of won) {
      cleanups.push(async () => {
        winner.session.end()
        await winner.session.done
      })
    }
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(19)
    expect(new Set(lost.map((error) => error.message))).toEqual(
      new Set(['another technician already took this session']),
    )
    expect(await run(won[0]!.ssh, 'echo taken')).toBe('taken\n')
    for (const [index, gateway] of gateways.entries()) {
      expect((await api.queue(gateway.url, tokens[index]!)).sessions).toEqual([])
    }
  })

  it('counts wrong PINs from one address on all gateways together', async () => {
    const { gateways } = await cluster()
    const guess = (index: number) =>
      openGatewaySocket(
        { server: gateways[index % 3]!.url, role: 'host', entry: { pin: String(100000 + index) } },
        (socket) => socket.terminate(),
      ).then(
        () => 'open',
        (error: UserError) => error.code,
      )
    const answers: string[] = []
    for (let index = 0; index < 12; index++) answers.push(await guess(index))
    // Ten "no such PIN" spread over the three gateways, then every gateway makes the address wait.
    expect(answers.slice(0, 10)).toEqual(Array(10).fill('pinInvalid'))
    expect(answers.slice(10)).toEqual(['rateLimited', 'rateLimited'])
  })

  it('refuses to seat anyone on the relay between gateways without a ticket signed with the shared key', async () => {
    const { gateways } = await cluster()
    const statusOf = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(CLUSTER_PATH, gateways[0]!.url)
        url.protocol = 'ws:'
        const socket = new WebSocket(url, { headers })
        socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0))
        socket.once('open', () => reject(new Error('seated without a valid ticket')))
        socket.once('error', reject)
      })
    const ticket = {
      role: 'host',
      via: 'resume',
      address: '10.0.0.1',
      sessionId: 'whatever',
      from: 'stranger',
      issuedAt: Date.now(),
    }
    const body = Buffer.from(JSON.stringify(ticket)).toString('base64url')
    expect(await statusOf({})).toBe(403)
    expect(await statusOf({ [TICKET_HEADER]: `${body}.${'A'.repeat(43)}` })).toBe(403)
    expect(await statusOf({ [TICKET_HEADER]: body })).toBe(403)
  })

  it('resumes a shell through another gateway when the one holding the session is cut off, same shell', async () => {
    // Gateway A is reached, by clients and by the other gateways, only through a proxy the test
    // cuts: cut, it is gone for everyone, as if killed.
    const proxy = await startCutProxy(1)
    cleanups.push(() => proxy.close())
    const { gateways, token } = await cluster({ clusterUrls: [proxy.url] })
    const [a, b] = gateways as [Gateway, Gateway, Gateway]
    proxy.retarget(Number(new URL(a.url).port))
    // Both sides know the service by two addresses: A (through the proxy) first, then B.
    const service = `${proxy.url},${b.url}`
    const { pin } = await api.createPin(b.url, token)
    const { events: hostEvents } = await hostOn(service, { pin }, ['shell'])
    await waitFor(() => hostEvents.some((event) => event.event === 'waiting'), 5000, 'the end user waiting')
    const { technician, events } = await technicianOn(service, { pin }, token)
    const shell = await openRemoteShell(await technician.ssh, { term: 'xterm', cols: 80, rows: 24 })
    let output = ''
    shell.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    shell.write('echo "pid=$$"\n')
    await waitFor(() => /pid=\d+/.test(output), 5000, 'the shell answering')
    const pid = /pid=(\d+)/.exec(output)![1]
    expect(a.rendezvous.openSessions).toBe(1)

    proxy.cut()
    await waitFor(
      () => events.some((event) => event.event === 'link-restored'),
      15_000,
      'the technician reconnected through gateway B',
    )
    output = ''
    shell.write('echo "again=$$"\n')
    await waitFor(() => /again=\d+/.test(output), 10_000, 'the same shell answering again')
    expect(/again=(\d+)/.exec(output)![1]).toBe(pid)
    // B took the session over: it holds the room now, and both sides came back to it.
    expect(b.rendezvous.openSessions).toBe(1)
    await waitFor(
      () => hostEvents.some((event) => event.event === 'link-restored'),
      5000,
      'the end user back',
    )
  })
})

describe.skipIf(!TEST_PG_URL)('an invitation across three gateways', () => {
  it('invites through gateway A into a session held by C; the end user on B and the invitee on A pair afresh', async () => {
    const { gateways, stores, token } = await cluster()
    const [a, b, c] = gateways as [Gateway, Gateway, Gateway]
    const { oneTimePassword } = await api.admin.addUser(a.url, token, {
      email: 'bob@acme.example',
      name: 'Bob',
      groups: ['admins'],
    })
    const bobLogin = await api.login(a.url, {
      email: 'bob@acme.example',
      password: oneTimePassword,
      newPassword: 'another horse battery',
    })
    if (!('token' in bobLogin)) throw new Error('bob could not log in')
    const { pin } = await api.createPin(a.url, token)
    // The lead comes first, on C: C holds the room, and every link of the end user's (on B) is relayed there.
    const { technician } = await technicianOn(c.url, { pin }, token)
    const events: HostEvent[] = []
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-cluster-host-'))
    const host = await startHost({
      server: b.url,
      entry: { pin },
      interactive: true,
      confirmWords: true,
      autoApprove: [],
      auditFile: path.join(dir, 'audit.jsonl'),
      onEvent: (event) => events.push(event),
    })
    cleanups.push(async () => {
      host.end()
      await host.done
      fs.rmSync(dir, { recursive: true, force: true })
    })
    await technician.ssh
    await waitFor(() => events.some((event) => event.event === 'words-asked'), 5000, 'the words question')
    host.confirmWords(true)
    const { sessionId } = events.find((event) => event.event === 'paired') as { sessionId: string }

    // A forwards the invitation to C, which holds the session and tells the end user's side (through B).
    const invited = await api.invite(a.url, token, sessionId, 'bob@acme.example')
    expect((await stores[0]!.findInvitation(invited.sessionId))?.state).toBe('waiting')
    const { technician: bob, events: bobEvents } = await technicianOn(
      a.url,
      { sessionId: invited.sessionId },
      bobLogin.token,
    )
    await bob.ssh
    const asked = () =>
      events.find((event) => event.event === 'words-asked' && event.technician === 'bob@acme.example') as
        { sas: string } | undefined
    await waitFor(() => asked() !== undefined, 5000, "Bob's words asked")
    const bobPaired = bobEvents.find((event) => event.event === 'paired') as { sas: string }
    expect(bobPaired.sas).toBe(asked()!.sas)
    expect((await stores[0]!.findInvitation(invited.sessionId))?.state).toBe('joined')
    expect((await stores[0]!.findSession(invited.sessionId))?.gateway_id).toBe(c.id)
    expect(a.rendezvous.openSessions).toBe(0)
    expect(b.rendezvous.openSessions).toBe(0)
    expect(c.rendezvous.openSessions).toBe(2)

    // Bob is let in; the lead hands him the lead (asked on A, answered by C) and leaves: Bob goes on,
    // and so does the end user's link of the lead's session (through B), which brought the news.
    host.confirmWords(true)
    await api.handOverLead(a.url, token, sessionId, 'bob@acme.example')
    await waitFor(() => events.some((event) => event.event === 'lead-changed'), 5000, 'the new lead')
    technician.session.end()
    await technician.session.done
    await waitFor(
      () => events.some((event) => event.event === 'technician-left' && event.first === true),
      5000,
      'the end user told the first technician left',
    )
    // His requests still reach the end user, who lets one through: a channel opens on his SSH.
    void run(bob.ssh, 'true').catch(() => undefined)
    await waitFor(() => events.some((event) => event.event === 'consent-request'), 5000, "Bob's request")
    host.answer((events.find((event) => event.event === 'consent-request') as { id: string }).id, 'once')
    await waitFor(() => events.some((event) => event.event === 'channel-open'), 5000, "Bob's channel")
    expect(events.some((event) => event.event === 'ended')).toBe(false)

    // Bob, who leads now, leaves: the session ends for the end user, saying who.
    bob.session.end()
    expect(await host.done).toMatchObject({
      reason: 'the lead technician bob@acme.example ended the session',
    })
  })
})
