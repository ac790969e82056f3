/**
 * The gateway attacked as a stranger would, with raw WebSockets and HTTP against a real gateway
 * on 127.0.0.1 (other client addresses by binding 127.0.0.2 and up, which Linux routes to
 * loopback): a thousand joins to a shared queue without its channel link and with a stolen one,
 * a flood from many addresses, login spraying across accounts, and a stranger probing whether
 * another technician's PIN is live. Each now fails, and the queue stays usable for real people.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { api } from '../src/core/client/index.js'
import { UserError } from '../src/core/errors.js'
import { DEFAULT_ADDRESS_LIMITS } from '../src/core/gateway/address-limits.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import { startTechnician } from '../src/core/technician/index.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

let gw: TestGateway | undefined
const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  delete process.env.RESCUE_BIND_ADDRESS
  await gw?.close()
  gw = undefined
})

const PASSWORD = 'seven green bottles on the wall'

/** What one raw upgrade got: refused with an HTTP status and body, or in (101) with the gateway's texts. */
interface RawJoin {
  status: number
  body: string
  retryAfter?: string
  socket?: WebSocket
  texts: { type: string; [key: string]: unknown }[]
}

/** One raw upgrade to `route` with `headers`, from `localAddress`; resolves once refused or first told something. */
function rawJoin(
  route: 'host' | 'technician',
  headers: Record<string, string>,
  localAddress = '127.0.0.1',
): Promise<RawJoin> {
  const socket = new WebSocket(new URL(`/v1/ws/${route}`, gw!.url.replace('http', 'ws')), {
    headers,
    localAddress,
  })
  return new Promise((resolve, reject) => {
    const texts: RawJoin['texts'] = []
    socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) return
      texts.push(JSON.parse(data.toString('utf8')) as RawJoin['texts'][number])
      resolve({ status: 101, body: '', socket, texts })
    })
    socket.once('close', () => resolve({ status: 101, body: '', socket, texts }))
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        socket.terminate()
        const retryAfter = response.headers['retry-after']
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
          texts,
        })
      })
    })
    socket.once('error', reject)
  })
}

/** Hangs up every socket: half politely (a close frame), half by cutting the connection. */
const closeAll = (joins: RawJoin[]) =>
  joins.forEach((join, index) => (index % 2 === 0 ? join.socket?.close(1000) : join.socket?.terminate()))
const waitingIn = (joins: RawJoin[]) => joins.filter((join) => join.texts[0]?.type === 'waiting')

/** A technician in `groups`, logged in with a password of their own. */
async function technician(email: string, groups: string[]): Promise<string> {
  const { oneTimePassword } = await api.admin.addUser(gw!.url, gw!.token, { email, groups })
  const reply = await api.login(gw!.url, { email, password: oneTimePassword, newPassword: PASSWORD })
  if (!('token' in reply)) throw new Error(`no token for ${email}`)
  return reply.token
}

/** A gateway with a helpdesk group, its channel link's secret, and a technician in it. */
async function helpdesk(limits: Parameters<typeof startTestGateway>[0] = {}) {
  gw = await startTestGateway(limits)
  await api.admin.addGroup(gw.url, gw.token, 'helpdesk')
  await api.admin.setGroup(gw.url, gw.token, 'helpdesk', { allow: ['shell', 'exec'] })
  const { secret } = await api.admin.createChannelLink(gw.url, gw.token, { group: 'helpdesk' })
  const bob = await technician('bob@acme.example', ['helpdesk'])
  return { secret, bob }
}

/** A real end user (no terminal) joining the helpdesk's queue from `address`; ended with the test. */
async function realEndUser(secret: string, address: string) {
  const events: HostEvent[] = []
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-abuse-'))
  // The client reads it as it opens the socket.
  process.env.RESCUE_BIND_ADDRESS = address
  const host = await startHost({
    server: gw!.url,
    entry: { channelSecret: secret },
    interactive: false,
    confirmWords: false,
    // --auto-approve needs a --trust key or the operator's explicit word on the gateway: the test gives the latter.
    trustGateway: true,
    autoApprove: [],
    auditFile: path.join(dir, 'audit.jsonl'),
    onEvent: (event) => events.push(event),
  }).finally(() => delete process.env.RESCUE_BIND_ADDRESS)
  cleanups.push(async () => {
    host.end()
    await host.done
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await waitFor(() => events.some((event) => event.event === 'waiting'))
  const waiting = events.find((event) => event.event === 'waiting') as { sessionId: string }
  return { host, events, sessionId: waiting.sessionId }
}

describe('flooding a shared queue', () => {
  it('1,000 joins without a channel link are all refused: a group name is no key, guessed links get 429', async () => {
    const { bob } = await helpdesk()
    const joins = await Promise.all(
      Array.from({ length: 1000 }, (_, index) =>
        rawJoin(
          'host',
          index % 2 === 0
            ? { 'rescue-channel': 'helpdesk' }
            : { 'rescue-channel-link': `guess${String(index).padStart(40, '0')}` },
        ),
      ),
    )
    expect(joins.filter((join) => join.status === 101)).toEqual([])
    const byName = joins.filter((_, index) => index % 2 === 0)
    expect(new Set(byName.map((join) => join.status))).toEqual(new Set([404]))
    expect(JSON.parse(byName[0]!.body)).toMatchObject({
      error: {
        code: 'pinInvalid',
        message: 'a shared queue is joined with its channel link, not a group name',
      },
    })
    // Wrong links: the first few are "no such link", the rest wait.
    const guessed = joins.filter((_, index) => index % 2 === 1)
    expect(guessed.filter((join) => join.status === 404)).toHaveLength(
      DEFAULT_ADDRESS_LIMITS.wrongLinksPerMinute,
    )
    const limited = guessed.filter((join) => join.status === 429)
    expect(limited).toHaveLength(500 - DEFAULT_ADDRESS_LIMITS.wrongLinksPerMinute)
    expect(JSON.parse(limited[0]!.body)).toMatchObject({
      error: { code: 'rateLimited', message: 'too many wrong channel links from this address' },
    })
    expect(Number(limited[0]!.retryAfter)).toBeGreaterThan(0)
    expect((await api.queue(gw!.url, bob)).sessions).toEqual([])
    expect(await gw!.store.countSessions()).toBe(0)
  })

  it('1,000 joins with a stolen link from one address: most refused at once, the queue stays usable, the database bounded', async () => {
    const { secret, bob } = await helpdesk()
    const started = performance.now()
    const flood = await Promise.all(
      Array.from({ length: 1000 }, () => rawJoin('host', { 'rescue-channel-link': secret })),
    )
    const seconds = (performance.now() - started) / 1000
    const refused = flood.filter((join) => join.status === 429)
    const waiting = waitingIn(flood)
    console.log(
      `1,000 joins with a valid link from one address in ${seconds.toFixed(2)} s: ${waiting.length} waiting, ${refused.length} refused with 429`,
    )
    cleanups.push(() => closeAll(flood))
    expect(waiting.length).toBeGreaterThan(0)
    expect(waiting.length).toBeLessThanOrEqual(DEFAULT_ADDRESS_LIMITS.waitingPerAddress)
    expect(refused.length).toBeGreaterThanOrEqual(1000 - DEFAULT_ADDRESS_LIMITS.joinsPerMinute)
    expect(refused.every((join) => Number(join.retryAfter) > 0)).toBe(true)
    // A join that raced past the HTTP check is turned away at once with a reason, never seated.
    for (const join of flood.filter((join) => join.status === 101 && join.texts[0]?.type !== 'waiting')) {
      expect(join.texts[0]).toMatchObject({ type: 'ended', code: 'rateLimited' })
    }

    // The technician's queue lists only what the limit let in, and a real end user from
    // another address still gets in, is listed, and is taken.
    expect((await api.queue(gw!.url, bob)).sessions.length).toBe(waiting.length)
    const real = await realEndUser(secret, '127.0.0.2')
    const queue = (await api.queue(gw!.url, bob)).sessions
    expect(queue.length).toBe(waiting.length + 1)
    expect(queue.find((session) => session.sessionId === real.sessionId)).toMatchObject({
      hostAddress: '127.0.0.2',
    })
    const taken = await startTechnician({
      server: gw!.url,
      entry: { sessionId: real.sessionId },
      token: bob,
      onEvent: () => {},
    })
    cleanups.push(async () => {
      taken.session.end()
      await taken.session.done
    })
    await taken.ssh
    expect(await gw!.store.countSessions()).toBeLessThanOrEqual(DEFAULT_ADDRESS_LIMITS.waitingPerAddress + 1)

    // The attacker hangs up: their sessions leave the queue at once, and leave no rows.
    closeAll(flood)
    await waitFor(async () => (await api.queue(gw!.url, bob)).sessions.length === 0, 3000, 'an empty queue')
    await waitFor(async () => (await gw!.store.countSessions()) === 1, 3000, 'one row: the real session')
    expect((await gw!.store.listSessions())[0]).toMatchObject({
      id: real.sessionId,
      host_address: '127.0.0.2',
    })
  })

  it('a flood from many addresses stops at the group’s cap, and the queue refuses with a reason', async () => {
    const { secret, bob } = await helpdesk({ limits: { waitingPerGroup: 8 } })
    const flood: RawJoin[] = []
    for (let last = 10; last < 30; last++) {
      flood.push(await rawJoin('host', { 'rescue-channel-link': secret }, `127.0.0.${last}`))
    }
    cleanups.push(() => closeAll(flood))
    expect(waitingIn(flood)).toHaveLength(8)
    const refused = flood.filter((join) => join.status === 429)
    expect(refused).toHaveLength(12)
    expect(JSON.parse(refused[0]!.body)).toMatchObject({
      error: { code: 'rateLimited', message: 'the shared queue of helpdesk is full (8 waiting)' },
    })
    expect((await api.queue(gw!.url, bob)).sessions).toHaveLength(8)
    // One leaves: a place opens for the next.
    waitingIn(flood)[0]!.socket!.close(1000)
    await waitFor(async () => (await api.queue(gw!.url, bob)).sessions.length === 7, 3000, 'a free place')
    expect(waitingIn([await rawJoin('host', { 'rescue-channel-link': secret }, '127.0.0.40')])).toHaveLength(
      1,
    )
  })
})

describe('separate limits, honest messages', () => {
  it('wrong PINs do not stop a channel join from the same address, and wrong links do not stop a PIN', async () => {
    const { secret } = await helpdesk()
    for (let attempt = 0; attempt < DEFAULT_ADDRESS_LIMITS.wrongPinsPerMinute; attempt++) {
      expect((await rawJoin('host', { 'rescue-pin': String(100000 + attempt) })).status).toBe(404)
    }
    const pinLimited = await rawJoin('host', { 'rescue-pin': '999999' })
    expect(pinLimited.status).toBe(429)
    expect(JSON.parse(pinLimited.body).error.message).toBe('too many wrong PINs from this address')
    const inQueue = await rawJoin('host', { 'rescue-channel-link': secret })
    expect(inQueue.texts[0]).toMatchObject({ type: 'waiting', via: 'channel', channel: 'helpdesk' })
    inQueue.socket!.close(1000)

    // And the other way round, from another address.
    const pin = await gw!.newPin()
    for (let attempt = 0; attempt < DEFAULT_ADDRESS_LIMITS.wrongLinksPerMinute; attempt++) {
      await rawJoin('host', { 'rescue-channel-link': `wrong${'x'.repeat(40)}${attempt}` }, '127.0.0.2')
    }
    const linkLimited = await rawJoin('host', { 'rescue-channel-link': secret }, '127.0.0.2')
    expect(JSON.parse(linkLimited.body).error.message).toBe('too many wrong channel links from this address')
    const withPin = await rawJoin('host', { 'rescue-pin': pin }, '127.0.0.2')
    expect(withPin.texts[0]).toMatchObject({ type: 'waiting', via: 'pin' })
    withPin.socket!.close(1000)
  })

  it('a PIN that is not 6 digits guesses nothing, and does not count toward the wrong-PIN limit', async () => {
    gw = await startTestGateway()
    for (let attempt = 0; attempt < 30; attempt++) {
      expect((await rawJoin('host', { 'rescue-pin': 'abc' })).status).toBe(404)
    }
    const pin = await gw.newPin()
    const joined = await rawJoin('host', { 'rescue-pin': pin })
    expect(joined.texts[0]).toMatchObject({ type: 'waiting' })
    joined.socket!.close(1000)
  })

  it('tells a technician with an expired PIN to make a new one, and an end user to ask for one', async () => {
    gw = await startTestGateway()
    const pin = await gw.newPin()
    await gw.store.db
      .updateTable('pins')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('pin', '=', pin)
      .execute()
    const asTechnician = await rawJoin('technician', {
      'rescue-pin': pin,
      authorization: `Bearer ${gw.token}`,
    })
    expect(JSON.parse(asTechnician.body).error).toMatchObject({
      code: 'pinExpired',
      hint: 'make a new one with rescue pin',
    })
    const asEndUser = await rawJoin('host', { 'rescue-pin': pin })
    expect(JSON.parse(asEndUser.body).error).toMatchObject({
      code: 'pinExpired',
      hint: 'ask your technician for a new PIN',
    })
  })
})

describe("another technician's PIN", () => {
  it('is answered byte for byte as an unknown PIN, live, used or expired', async () => {
    gw = await startTestGateway()
    await api.admin.addGroup(gw.url, gw.token, 'helpdesk')
    await api.admin.setGroup(gw.url, gw.token, 'helpdesk', { allow: ['shell', 'private'] })
    const mallory = await technician('mallory@acme.example', ['helpdesk'])
    const probe = async (pin: string) => {
      const answer = await rawJoin('technician', { 'rescue-pin': pin, authorization: `Bearer ${mallory}` })
      return { status: answer.status, body: answer.body }
    }
    const alicePin = await gw.newPin()
    let unknown = '000000'
    while (unknown === alicePin) unknown = String(Math.floor(Math.random() * 900000) + 100000)
    const answerUnknown = await probe(unknown)
    expect(answerUnknown.status).toBe(404)
    expect(await probe(alicePin)).toEqual(answerUnknown)
    await gw.store.db
      .updateTable('pins')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('pin', '=', alicePin)
      .execute()
    expect(await probe(alicePin)).toEqual(answerUnknown)
    await gw.store.db
      .updateTable('pins')
      .set({ used_at: new Date().toISOString() })
      .where('pin', '=', alicePin)
      .execute()
    expect(await probe(alicePin)).toEqual(answerUnknown)
    expect(JSON.parse(answerUnknown.body).error.message).toBe('no such PIN')
  })
})

describe('login spraying', () => {
  it('40 logins to different accounts from one address are slowed with 429 after the limit; another address still logs in', async () => {
    gw = await startTestGateway()
    await api.admin.addGroup(gw.url, gw.token, 'helpdesk')
    const emails = Array.from({ length: 40 }, (_, index) => `user${index}@acme.example`)
    const passwords = new Map<string, string>()
    for (const email of emails) {
      passwords.set(
        email,
        (await api.admin.addUser(gw.url, gw.token, { email, groups: ['helpdesk'] })).oneTimePassword,
      )
    }
    const codes: string[] = []
    for (const email of emails) {
      const outcome = await api.login(gw.url, { email, password: 'Summer2026!' }).then(
        () => 'ok',
        (error: UserError) => error.code,
      )
      codes.push(outcome)
    }
    const limit = DEFAULT_ADDRESS_LIMITS.failedLogins
    expect(codes.slice(0, limit)).toEqual(Array(limit).fill('authFailed'))
    expect(codes.slice(limit)).toEqual(Array(40 - limit).fill('rateLimited'))
    // Even the right password waits: otherwise the limit would only slow honest people.
    const right = await api
      .login(gw.url, { email: emails[39]!, password: passwords.get(emails[39]!)!, newPassword: PASSWORD })
      .catch((error: UserError) => error)
    expect(right).toMatchObject({ code: 'rateLimited', message: 'too many failed logins from this address' })
    expect((right as UserError).hint).toMatch(/^try again in \d+ s$/)
    expect((right as UserError).exitCode).toBe(8)
    const raw = await fetch(new URL('/v1/login', gw.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: emails[0], password: 'x' }),
    })
    expect(raw.status).toBe(429)
    expect(Number(raw.headers.get('retry-after'))).toBeGreaterThan(0)

    // Another address is not this one's problem.
    process.env.RESCUE_BIND_ADDRESS = '127.0.0.2'
    const elsewhere = await api.login(gw.url, {
      email: emails[0]!,
      password: passwords.get(emails[0]!)!,
      newPassword: PASSWORD,
    })
    expect(elsewhere).toHaveProperty('token')
    delete process.env.RESCUE_BIND_ADDRESS

    // No account was locked by the spray (one failure each), and the trail says what happened, once.
    const { users } = await api.admin.listUsers(gw.url, gw.token)
    expect(users.filter((user) => user.lockedUntil)).toEqual([])
    const trail = (await gw.store.listAudit({ limit: 1000 })).filter(
      (row) => row.action === 'login.rate-limited',
    )
    expect(trail).toHaveLength(1)
    expect(trail[0]).toMatchObject({ address: '127.0.0.1', actor: '-' })
  })
})
