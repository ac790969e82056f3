/**
 * A technician hides text from the end user: zero-width characters, a line separator, a soft
 * hyphen, Hangul fillers and Unicode tag characters (ASCII that no terminal draws) in a command.
 * The host's prompt and events show every one of them escaped, its audit log records what was
 * shown, with no raw invisible character in the file, and the log's hash chain holds. A real
 * gateway, the real host and the technician's raw ssh2 client.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { ClientChannel } from 'ssh2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readAuditLog, verifyAuditLog } from '../src/core/audit/index.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import { startTechnician } from '../src/core/technician/index.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

// The invisible characters of issue 14, by hand: what must never reach the end user's screen raw.
const HIDDEN =
  /[\u200b-\u200f\u2028\u2029\u00ad\u3164\u115f\u1160\uffa0\u2060-\u2064\ufeff\u{e0000}-\u{e007f}]/u

/** "rm -rf ~" in Unicode tag characters. */
const tagged = (ascii: string) =>
  [...ascii].map((char) => String.fromCodePoint(0xe0000 + char.charCodeAt(0))).join('')
const COMMAND = `echo hi\u200b\u00ad\u3164\u2028${tagged('rm -rf ~')}`

let gw: TestGateway
let dir: string

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-hidden-'))
  gw = await startTestGateway()
})
afterEach(async () => {
  await gw.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('text a technician hides in a request', () => {
  it('is shown escaped in the prompt and events, and recorded escaped in a chained audit log', async () => {
    const pin = await gw.newPin()
    const events: HostEvent[] = []
    const auditFile = path.join(dir, 'audit.jsonl')
    const host = await startHost({
      server: gw.url,
      entry: { pin },
      interactive: false,
      confirmWords: false,
      // --auto-approve needs a --trust key or the operator's explicit word on the gateway: the test gives the latter.
      trustGateway: true,
      autoApprove: [],
      auditFile,
      onEvent: (event) => events.push(event),
    })
    const technician = await startTechnician({
      server: gw.url,
      entry: { pin },
      token: gw.token,
      onEvent: () => {},
    })
    const client = await technician.ssh
    const refused = await new Promise<Error | ClientChannel>((resolve) =>
      client.exec(COMMAND, (error, channel) => resolve(error ?? channel)),
    )
    expect(refused).toBeInstanceOf(Error)
    await waitFor(() => events.some((event) => event.event === 'consent-decision'))
    technician.session.end()
    await host.done

    const request = events.find((event) => event.event === 'consent-request')
    expect(request).toMatchObject({
      detail:
        'echo hi\\u200b\\xad\\u3164\\u2028\\u{e0072}\\u{e006d}\\u{e0020}\\u{e002d}\\u{e0072}\\u{e0066}\\u{e0020}\\u{e007e}',
    })
    expect(JSON.stringify(events)).not.toMatch(HIDDEN)

    const raw = fs.readFileSync(auditFile, 'utf8')
    expect(raw).not.toMatch(HIDDEN)
    const logged = readAuditLog(auditFile).entries.find((entry) => entry.event === 'consent-request')
    expect(logged).toMatchObject({ detail: expect.stringContaining('\\u{e0072}') })
    expect(verifyAuditLog(auditFile)).toMatchObject({ status: 'intact', unchained: 0 })
    expect(verifyAuditLog(auditFile).entries).toBe(raw.trim().split('\n').length)
  })
})
