/**
 * Compliance against a real gateway on 127.0.0.1:0, over SQLite (and PostgreSQL in the int-pg
 * project): sessions run through the real session runner report consent, files and chat; then
 * the session report, its CSV, the chat transcript, the CRM webhook against a receiver in this
 * test (which checks the signature and answers 500 twice before 200, across a gateway restart),
 * retention with a clock the test moves, and GDPR export and erasure.
 */
import { parse } from 'csv-parse/sync'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { api } from '../src/core/client/index.js'
import { verifyWebhookSignature } from '../src/core/compliance/index.js'
import { UserError, type ErrorCode } from '../src/core/errors.js'
import { startGateway, type Gateway } from '../src/core/gateway/index.js'
import type { SessionReport } from '../src/core/session/index.js'
import { ADMIN, startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'
import { joinAs } from './helpers/sessions.js'

let gw: TestGateway | undefined
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await gw?.close()
  gw = undefined
})

const SHA = 'a'.repeat(64)
const BOB = 'bob@acme.example'

async function refusal(promise: Promise<unknown>, code: ErrorCode): Promise<UserError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(UserError)
  expect((error as UserError).code, (error as Error).message).toBe(code)
  return error as UserError
}

/** Bob, a technician of "helpdesk" (shell and PINs allowed), logged in: his token. */
async function addBob(g: TestGateway): Promise<string> {
  await api.admin.addGroup(g.url, g.token, 'helpdesk')
  await api.admin.setGroup(g.url, g.token, 'helpdesk', { allow: ['shell', 'private', 'files.send'] })
  const { oneTimePassword } = await api.admin.addUser(g.url, g.token, { email: BOB, groups: ['helpdesk'] })
  const reply = await api.login(g.url, {
    email: BOB,
    password: oneTimePassword,
    newPassword: 'seven green bottles on the wall',
  })
  return (reply as { token: string }).token
}

/** A real paired session: the technician's side reports `reports`, then ends it. Returns its id. */
async function runSession(g: TestGateway, reports: SessionReport[], token = g.token): Promise<string> {
  const pin = (await api.createPin(g.url, token)).pin
  const host = await joinAs('host', g, pin)
  const technician = await joinAs('technician', g, pin, token)
  const paired = await host.paired
  const sessionId = (paired as { sessionId: string }).sessionId
  for (const report of reports) technician.session.report(report)
  await waitFor(
    async () => (await g.store.listSessionEvents(sessionId)).length >= reports.length,
    5000,
    'the reports in the session log',
  )
  technician.session.end()
  await Promise.all([host.session.done, technician.session.done])
  await waitFor(async () => Boolean((await g.store.findSession(sessionId))?.ended_at), 5000, 'the end')
  return sessionId
}

const BOB_REPORTS: SessionReport[] = [
  { event: 'consent-decision', kind: 'shell', allowed: true },
  { event: 'consent-decision', kind: 'files.send', allowed: false },
  {
    event: 'file-transfer',
    direction: 'to-host',
    path: '/home/eve/=HYPERLINK("http://evil")',
    bytes: 42,
    sha256: SHA,
    complete: true,
  },
  { event: 'chat', from: 'technician', text: 'hello, "Eve", I am rebooting' },
  { event: 'chat', from: 'host', text: '+1 thanks' },
]

/** RFC 4180 as a spreadsheet reads it (csv-parse, not our own writer's library twin). */
function readCsv(text: string): string[][] {
  return parse(text, { relax_column_count: true }) as string[][]
}

describe('session reports', () => {
  it('reports who, with whom, how long, how it ended, what was allowed and denied, and files; CSV is safe in a spreadsheet', async () => {
    gw = await startTestGateway()
    const bobToken = await addBob(gw)
    const bobSession = await runSession(gw, BOB_REPORTS, bobToken)
    const aliceSession = await runSession(gw, [{ event: 'consent-decision', kind: 'sysinfo', allowed: true }])
    const range = {
      from: new Date(Date.now() - 3600_000).toISOString(),
      to: new Date(Date.now() + 60_000).toISOString(),
    }

    const all = await api.admin.reportSessions(gw.url, gw.token, range)
    expect(all.sessions.map((s) => s.sessionId).sort()).toEqual([bobSession, aliceSession].sort())

    const bobs = await api.admin.reportSessions(gw.url, gw.token, { ...range, technician: BOB })
    expect(bobs.sessions).toHaveLength(1)
    const summary = bobs.sessions[0]!
    expect(summary).toMatchObject({
      sessionId: bobSession,
      technician: BOB,
      hostAddress: '127.0.0.1',
      endedBy: 'technician',
      allowed: ['shell'],
      denied: ['files.send'],
      chatLines: 2,
      files: [
        {
          direction: 'to-host',
          path: '/home/eve/=HYPERLINK("http://evil")',
          bytes: 42,
          sha256: SHA,
          complete: true,
        },
      ],
    })
    expect(summary.durationSeconds).toBeGreaterThanOrEqual(0)
    const byGroup = await api.admin.reportSessions(gw.url, gw.token, { ...range, group: 'helpdesk' })
    expect(byGroup.sessions.map((s) => s.sessionId)).toEqual([bobSession])

    const { sessionsCsv } = await import('../src/core/compliance/index.js')
    const csv = sessionsCsv(bobs.sessions)
    expect(csv.startsWith('\uFEFF')).toBe(true)
    const rows = readCsv(csv.slice(1))
    expect(rows).toHaveLength(2)
    expect(rows[0]).toContain('technician')
    const cells = rows[1]!
    expect(cells[0]).toBe(bobSession)
    // The file cell starts with its direction, so it is no formula; its content survives quoting.
    expect(cells.find((cell) => cell.includes('HYPERLINK'))).toBe(
      `to-host /home/eve/=HYPERLINK("http://evil") 42 bytes sha256:${SHA}`,
    )

    const chat = await api.admin.chat(gw.url, gw.token, bobSession)
    expect(chat.lines.map((line) => [line.from, line.text])).toEqual([
      ['technician', 'hello, "Eve", I am rebooting'],
      ['host', '+1 thanks'],
    ])
  })

  it('refuses a backwards date range, an unknown technician or group or session, and technicians', async () => {
    gw = await startTestGateway()
    const bobToken = await addBob(gw)
    const now = Date.now()
    const backwards = { from: new Date(now).toISOString(), to: new Date(now - 86_400_000).toISOString() }
    expect((await refusal(api.admin.reportSessions(gw.url, gw.token, backwards), 'usage')).message).toMatch(
      /backwards/,
    )
    const range = { from: new Date(now - 86_400_000).toISOString(), to: new Date(now).toISOString() }
    await refusal(
      api.admin.reportSessions(gw.url, gw.token, { ...range, technician: 'nobody@acme.example' }),
      'usage',
    )
    await refusal(api.admin.reportSessions(gw.url, gw.token, { ...range, group: 'nogroup' }), 'usage')
    await refusal(api.admin.chat(gw.url, gw.token, 'nosuchsession'), 'usage')
    await refusal(api.admin.reportSessions(gw.url, bobToken, range), 'forbidden')
  })
})

/** An HTTP receiver that checks each POST's signature and answers from `statuses`, then 200. */
async function startReceiver(secret: string, statuses: number[]) {
  const received: { body: string; valid: boolean; delivery: string | undefined }[] = []
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const header = request.headers['rescue-signature']
      received.push({
        body,
        valid: verifyWebhookSignature(secret, typeof header === 'string' ? header : undefined, body),
        delivery: request.headers['rescue-delivery'] as string | undefined,
      })
      response.statusCode = statuses.shift() ?? 200
      response.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => server.close(resolve)))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/rescue`, received }
}

const FAST = { tickMs: 50, webhook: { baseDelayMs: 100, maxDelayMs: 400 } }

describe('the CRM webhook', () => {
  it('POSTs a signed summary at the end of a session, retried after 500 twice until a 200, without chat', async () => {
    gw = await startTestGateway({ compliance: FAST })
    const secret = 'a shared secret of the CRM, 32 chars'
    const receiver = await startReceiver(secret, [500, 500])
    const set = await api.admin.setWebhook(gw.url, gw.token, {
      url: receiver.url,
      secret,
      includeChat: false,
    })
    expect(set).toEqual({ url: receiver.url, includeChat: false })
    const bobToken = await addBob(gw)
    const sessionId = await runSession(gw, BOB_REPORTS, bobToken)
    await waitFor(() => receiver.received.length >= 3, 10_000, 'three attempts')
    expect(receiver.received.every((r) => r.valid)).toBe(true)
    expect(new Set(receiver.received.map((r) => r.delivery)).size).toBe(1)
    const body = JSON.parse(receiver.received[2]!.body) as Record<string, unknown>
    expect(body).toMatchObject({
      type: 'session.ended',
      session: { sessionId, technician: BOB, allowed: ['shell'], denied: ['files.send'] },
    })
    expect(body.chat).toBeUndefined()
    expect(receiver.received[2]!.body).not.toContain('rebooting')
    // A replay later than the tolerance, or a body changed in transit, does not verify.
    const header = `t=${Math.floor(Date.now() / 1000) - 3600},v1=${'0'.repeat(64)}`
    expect(verifyWebhookSignature(secret, header, receiver.received[2]!.body)).toBe(false)

    await waitFor(
      async () => (await api.admin.webhooks(gw!.url, gw!.token)).deliveries[0]?.state === 'delivered',
      5000,
      'delivered in the status',
    )
    const status = await api.admin.webhooks(gw.url, gw.token)
    expect(status.deliveries).toHaveLength(1)
    expect(status.deliveries[0]).toMatchObject({
      sessionId,
      state: 'delivered',
      attempts: 3,
      lastStatus: 200,
    })
    expect(receiver.received).toHaveLength(3)
  })

  it('carries chat when set to, shows failures in the status, and keeps retrying across a gateway restart', async () => {
    gw = await startTestGateway({
      compliance: { tickMs: 50, webhook: { baseDelayMs: 300, maxDelayMs: 300 } },
    })
    const receiver = await startReceiver('unused', [500, 503, 500, 500, 500, 500, 500, 500])
    const { secret } = await api.admin.setWebhook(gw.url, gw.token, { url: receiver.url, includeChat: true })
    expect(secret).toMatch(/^[\w-]{43}$/)
    const sessionId = await runSession(gw, [{ event: 'chat', from: 'host', text: 'my printer is on fire' }])
    await waitFor(() => receiver.received.length >= 1, 5000, 'a first attempt')
    expect(verifyWebhookSignature(secret!, undefined, receiver.received[0]!.body)).toBe(false)
    const failing = await api.admin.webhooks(gw.url, gw.token)
    expect(failing.deliveries[0]).toMatchObject({ sessionId, state: 'pending', lastError: 'HTTP 500' })

    // The first gateway stops; a new one on the same store carries the queue on to a 200.
    await gw.gateway.close()
    const second: Gateway = await startGateway({
      store: gw.store,
      host: '127.0.0.1',
      port: 0,
      logCipher: gw.logCipher,
      compliance: FAST,
    })
    cleanups.push(() => second.close())
    const statuses = receiver.received.length
    await waitFor(
      async () => (await api.admin.webhooks(second.url, gw!.token)).deliveries[0]?.state === 'delivered',
      10_000,
      'delivered by the second gateway',
    )
    const last = receiver.received.at(-1)!
    expect(receiver.received.length).toBeGreaterThan(statuses)
    expect(JSON.parse(last.body)).toMatchObject({ chat: [{ from: 'host', text: 'my printer is on fire' }] })
  })

  it('refuses a URL that is not http(s), holds credentials, or points at the gateway, and keeps the old one', async () => {
    gw = await startTestGateway()
    const receiver = await startReceiver('a shared secret of the CRM, 32 chars', [])
    await api.admin.setWebhook(gw.url, gw.token, {
      url: receiver.url,
      secret: 'x'.repeat(20),
      includeChat: false,
    })
    const own = new URL(gw.url)
    for (const url of [
      'ftp://crm.example/hook',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'not a url',
      'https://user:pass@crm.example/hook',
      `${gw.url}/v1/admin/users`,
      `http://localhost:${own.port}/hook`,
    ]) {
      await refusal(api.admin.setWebhook(gw.url, gw.token, { url, includeChat: false }), 'usage')
    }
    await refusal(
      api.admin.setWebhook(gw.url, gw.token, { url: receiver.url, secret: 'short', includeChat: false }),
      'usage',
    )
    expect((await api.admin.webhooks(gw.url, gw.token)).url).toBe(receiver.url)
  })
})

describe('retention', () => {
  it('is two years by default, and the gateway purges older sessions itself when the clock moves past it', async () => {
    let now = Date.now()
    gw = await startTestGateway({ compliance: { now: () => now, tickMs: 50, purgeEveryMs: 1000 } })
    expect((await api.admin.retention(gw.url, gw.token)).retention).toEqual({ days: 730, isDefault: true })
    const old = await runSession(gw, BOB_REPORTS.slice(3))
    await refusal(api.admin.setRetention(gw.url, gw.token, 0), 'usage')
    expect((await api.admin.setRetention(gw.url, gw.token, 90)).retention).toEqual({
      days: 90,
      isDefault: false,
    })
    // A session that ends 60 days from now, inside the period once the clock has moved.
    const recent = 'recentsession0000000000000'
    const later = new Date(now + 60 * 86_400_000).toISOString()
    await gw.store.insertSession({ id: recent, created_at: later, paired_at: later, ended_at: later })

    now += 89 * 86_400_000
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await gw.store.findSession(old)).toBeDefined()

    now += 2 * 86_400_000
    await waitFor(async () => (await gw!.store.findSession(old)) === undefined, 5000, 'the purge')
    expect(await gw.store.listSessionEvents(old)).toEqual([])
    expect(await gw.store.findSession(recent)).toBeDefined()
    const { entries } = await api.admin.audit(gw.url, gw.token, 100)
    const purge = entries.find((entry) => entry.action === 'retention.purge')
    expect(purge).toMatchObject({ actor: 'gateway', after: { retentionDays: 90, sessions: 1, events: 2 } })
    expect(entries.map((entry) => entry.action)).toContain('retention.set')
  })
})

describe('GDPR', () => {
  it('exports everything held about a technician, decrypted, then erases it and says what it erased', async () => {
    gw = await startTestGateway()
    const bobToken = await addBob(gw)
    const sessionId = await runSession(gw, BOB_REPORTS, bobToken)
    const aliceSession = await runSession(gw, [])

    const exported = await api.admin.gdprExport(gw.url, gw.token, { technician: BOB })
    expect(exported.account).toMatchObject({ email: BOB, groups: ['helpdesk'], role: 'technician' })
    expect(JSON.stringify(exported)).not.toMatch(/password_hash|totp_secret|token_hash/)
    expect(exported.sessions).toHaveLength(1)
    expect(exported.sessions[0]!.chat.map((line) => line.text)).toEqual([
      'hello, "Eve", I am rebooting',
      '+1 thanks',
    ])
    expect(exported.sessions[0]!.summary.files[0]).toMatchObject({ bytes: 42, sha256: SHA })
    expect(exported.adminAudit.some((entry) => entry.action === 'users.add')).toBe(true)
    const bySession = await api.admin.gdprExport(gw.url, gw.token, { session: sessionId })
    expect(bySession.sessions[0]!.summary.sessionId).toBe(sessionId)

    const erased = await api.admin.gdprDelete(gw.url, gw.token, { technician: BOB })
    expect(erased.erased).toMatchObject({ account: 1, sessions: 1, events: 5 })
    expect(erased.pseudonym).toMatch(/^erased:[0-9a-f]{16}$/)
    expect(await gw.store.findSession(sessionId)).toBeUndefined()
    expect(await gw.store.findUserByEmail(BOB)).toBeUndefined()
    expect(await gw.store.findSession(aliceSession)).toBeDefined()
    const { entries } = await api.admin.audit(gw.url, gw.token, 1000)
    expect(JSON.stringify(entries)).not.toContain(BOB)
    expect(entries.at(-1)).toMatchObject({ action: 'gdpr.delete', target: erased.pseudonym })
    // Gone: asking again is an unknown technician, and nothing else changes.
    await refusal(api.admin.gdprExport(gw.url, gw.token, { technician: BOB }), 'usage')
    await refusal(api.admin.gdprDelete(gw.url, gw.token, { technician: BOB }), 'usage')
  })

  it('erases one session, and refuses unknown subjects, the master admin, and non-masters', async () => {
    gw = await startTestGateway()
    const bobToken = await addBob(gw)
    const sessionId = await runSession(gw, BOB_REPORTS.slice(3))
    await refusal(api.admin.gdprExport(gw.url, bobToken, { session: sessionId }), 'forbidden')
    await refusal(api.admin.gdprExport(gw.url, gw.token, { session: 'nosuchsession' }), 'usage')
    await refusal(api.admin.gdprDelete(gw.url, gw.token, { technician: ADMIN.email }), 'usage')
    const erased = await api.admin.gdprDelete(gw.url, gw.token, { session: sessionId })
    expect(erased.erased).toMatchObject({ sessions: 1, events: 2 })
    await refusal(api.admin.chat(gw.url, gw.token, sessionId), 'usage')
    expect(await gw.store.findUserByEmail(BOB)).toBeDefined()
  })
})
