/**
 * Compliance through the built CLI against a real `rescue server`: a session with a chat line,
 * then `admin report sessions` as a table, CSV (BOM, escaped formulas) and JSON, `admin report
 * chat`, `admin retention show|set`, `admin webhooks set|status` with a receiver in this test,
 * `admin gdpr export` (a 0600 file) and `admin gdpr delete`; bad input exits 2 and writes nothing.
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { verifyWebhookSignature } from '../../src/core/compliance/webhook.js'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, onlyJson, waitUntil, type RunResult } from './cli.js'

const ADMIN = {
  email: 'erin@acme.example',
  password: 'a long and winding passphrase',
  name: 'Erin Admin',
  organisation: 'Acme IT',
}
const FORMULA_CHAT = '=cmd|" /C calc"!A0'

let world: CliWorld
let url: string
let runtime: string
const admin = (...args: string[]) => world.run(['admin', ...args])

function ok(result: RunResult): RunResult {
  expect(result.exitCode, `${result.command}\n${result.stdout}\n${result.stderr}`).toBe(ExitCode.ok)
  return result
}

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
  runtime = world.dir('runtime')
})
afterEach(() => world?.stopTracked())
afterAll(() => world?.dispose())

/** A live session with one chat line from the technician, ended by the technician; its id. */
async function sessionWithChat(text: string, ...hostFlags: string[]): Promise<string> {
  const { host, technician } = await world.liveSession(url, runtime, ...hostFlags)
  const paired = await technician.waitForEvent('paired')
  ok(await world.run(['chat', '--message', text], { env: { XDG_RUNTIME_DIR: runtime } }))
  await host.waitForEvent('chat')
  await technician.stop()
  await host.waitForExit()
  const sessionId = paired.sessionId as string
  for (let i = 0; i < 50; i++) {
    const report = onlyJson(ok(await admin('report', 'sessions', '--json')))
    const found = (
      report.sessions as { sessionId: string; endedAt: string | null; chatLines: number }[]
    ).find((s) => s.sessionId === sessionId)
    if (found?.endedAt && found.chatLines > 0) return sessionId
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`session ${sessionId} never showed as ended with its chat`)
}

describe('reports through the CLI', () => {
  it('lists a session as a table, CSV a spreadsheet opens safely, and JSON; shows its chat', async () => {
    const sessionId = await sessionWithChat(FORMULA_CHAT, '--send-hostname')
    const table = ok(await admin('report', 'sessions'))
    expect(table.stdout).toContain('TECHNICIAN')
    expect(table.stdout).toContain(sessionId)
    expect(table.stdout).toContain(ADMIN.email)

    const csv = ok(await admin('report', 'sessions', '--format', 'csv', '--technician', ADMIN.email))
    expect(csv.stdout.startsWith('\uFEFFsession,technician,')).toBe(true)
    expect(csv.stdout).toContain('\r\n')
    expect(csv.stdout).toContain(sessionId)

    const json = JSON.parse(ok(await admin('report', 'sessions', '--format', 'json')).stdout) as {
      sessions: { sessionId: string; endedBy: string; technician: string }[]
    }
    expect(json.sessions.find((s) => s.sessionId === sessionId)).toMatchObject({
      hostName: os.hostname(),
      endedBy: 'technician',
      technician: ADMIN.email,
    })

    const chat = ok(await admin('report', 'chat', sessionId))
    expect(chat.stdout).toContain(`technician: ${FORMULA_CHAT}`)
    const chatJson = onlyJson(ok(await admin('report', 'chat', sessionId, '--json')))
    expect(chatJson.lines).toEqual([expect.objectContaining({ from: 'technician', text: FORMULA_CHAT })])
  })

  it('refuses a backwards range, a date that is not one, and an unknown session or technician, exit 2', async () => {
    const backwards = await admin('report', 'sessions', '--from', '2026-02-01', '--to', '2026-01-01')
    expect(backwards.exitCode).toBe(ExitCode.usage)
    expect(backwards.stderr).toContain('backwards')
    expect((await admin('report', 'sessions', '--from', 'last tuesday')).exitCode).toBe(ExitCode.usage)
    expect((await admin('report', 'sessions', '--format', 'xlsx')).exitCode).toBe(ExitCode.usage)
    const unknown = await admin('report', 'chat', 'nosuchsession')
    expect(unknown.exitCode).toBe(ExitCode.usage)
    expect(unknown.stderr).toContain('no session nosuchsession')
    const nobody = await admin('report', 'sessions', '--technician', 'nobody@acme.example')
    expect(nobody.exitCode).toBe(ExitCode.usage)
    expect(nobody.stderr).toContain('no technician nobody@acme.example')
  })
})

describe('retention through the CLI', () => {
  it('shows the two-year default, sets 90d into the audit trail, and refuses nonsense', async () => {
    expect(ok(await admin('retention', 'show')).stdout).toContain('730 days (the default)')
    expect(ok(await admin('retention', 'set', '90d')).stdout).toContain('90 days')
    expect(onlyJson(ok(await admin('retention', 'show', '--json')))).toEqual({
      retention: { days: 90, isDefault: false },
    })
    for (const period of ['0d', 'forever', '11y']) {
      expect((await admin('retention', 'set', period)).exitCode).toBe(ExitCode.usage)
    }
    const audit = onlyJson(ok(await admin('audit', '--json'))).entries as { action: string; after?: object }[]
    expect(audit.filter((entry) => entry.action === 'retention.set')).toEqual([
      expect.objectContaining({ after: { days: 90 } }),
    ])
  })
})

describe('the CRM webhook through the CLI', () => {
  it('shows a made secret once, refuses bad URLs, and the receiver gets a signed summary of the next session', async () => {
    const received: { body: string; signature: string }[] = []
    const receiver = http.createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        received.push({
          body: Buffer.concat(chunks).toString('utf8'),
          signature: String(request.headers['rescue-signature']),
        })
        response.end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    try {
      const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
      expect((await admin('webhooks', 'set', 'ftp://crm.example/hook')).exitCode).toBe(ExitCode.usage)
      const self = await admin('webhooks', 'set', `${url}/hook`)
      expect(self.exitCode).toBe(ExitCode.usage)
      expect(self.stderr).toContain('points at this gateway')
      expect(onlyJson(ok(await admin('webhooks', 'status', '--json'))).url).toBeNull()

      const set = ok(await admin('webhooks', 'set', hook))
      const secret = set.stdout.trim()
      expect(secret).toMatch(/^[\w-]{43}$/)
      expect(set.stderr).toContain('shown once')
      expect(JSON.stringify(onlyJson(ok(await admin('webhooks', 'status', '--json'))))).not.toContain(secret)
      // A secret of one's own comes from stdin, never argv.
      const mine = 'our CRM secret, long enough'
      const fromStdin = ok(
        await world.run(['admin', 'webhooks', 'set', hook, '--secret-stdin'], { input: mine }),
      )
      expect(fromStdin.command).not.toContain(mine)
      expect(fromStdin.stdout).not.toContain(mine)

      const sessionId = await sessionWithChat('the CRM must not see this line')
      await waitUntil(() => received.length > 0, 15_000)
      const [delivery] = received
      expect(verifyWebhookSignature(mine, delivery!.signature, delivery!.body)).toBe(true)
      expect(JSON.parse(delivery!.body)).toMatchObject({ type: 'session.ended', session: { sessionId } })
      expect(delivery!.body).not.toContain('must not see')
      const status = ok(await admin('webhooks', 'status'))
      expect(status.stdout).toContain(sessionId)
      expect(status.stdout).toContain('delivered')
    } finally {
      await new Promise((resolve) => receiver.close(resolve))
      ok(await admin('webhooks', 'remove'))
    }
  })
})

describe('GDPR through the CLI', () => {
  it('exports a session to a 0600 file, erases it with --yes, and writes nothing for an unknown one', async () => {
    // Without --send-hostname, the gateway never learns the computer's name.
    const sessionId = await sessionWithChat('please call me on 0123')
    const exports = world.dir('exports')
    const out = path.join(exports, 'session.json')
    ok(await admin('gdpr', 'export', '--session', sessionId, '-o', out))
    expect(fs.statSync(out).mode & 0o777).toBe(0o600)
    const exported = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      sessions: { chat: { text: string }[]; summary: { hostName: string | null } }[]
    }
    expect(exported.sessions[0]!.chat.map((line) => line.text)).toEqual(['please call me on 0123'])
    expect(exported.sessions[0]!.summary.hostName).toBeNull()

    const missing = path.join(exports, 'missing.json')
    const unknown = await admin('gdpr', 'export', '--session', 'nosuchsession', '-o', missing)
    expect(unknown.exitCode).toBe(ExitCode.usage)
    expect(fs.existsSync(missing)).toBe(false)
    expect(fs.readdirSync(exports)).toEqual(['session.json'])
    expect((await admin('gdpr', 'export', '-o', missing)).exitCode).toBe(ExitCode.usage)

    const unsure = await admin('gdpr', 'delete', '--session', sessionId)
    expect(unsure.exitCode).toBe(ExitCode.usage)
    expect(unsure.stderr).toContain('--yes')
    ok(await admin('report', 'chat', sessionId))
    const erased = ok(await admin('gdpr', 'delete', '--session', sessionId, '--yes'))
    expect(erased.stdout).toMatch(/erased sessions: 1, events: \d+/)
    expect((await admin('report', 'chat', sessionId)).exitCode).toBe(ExitCode.usage)
    const audit = onlyJson(ok(await admin('audit', '--json'))).entries as { action: string }[]
    expect(audit.map((entry) => entry.action)).toEqual(expect.arrayContaining(['gdpr.export', 'gdpr.delete']))
  })
})
