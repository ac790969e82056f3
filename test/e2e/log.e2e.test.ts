import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuditLog, type AuditRecord } from '../../src/core/audit/index.js'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, onlyJson } from './cli.js'

const FIRST = 'k3jd8s2qm4vwxyzab5cdefghij'
const SECOND = 'p7zq2rt6ab3cdefghijklmnopq'

const session: AuditRecord[] = [
  {
    event: 'session-start',
    session: FIRST,
    server: 'http://127.0.0.1:8080',
    technician: { name: 'Ada Lovelace', email: 'ada@example.com', organisation: 'Analytical Ltd' },
    sas: 'apple banana cherry',
  },
  {
    event: 'consent-request',
    session: FIRST,
    id: 'r1',
    permission: 'exec',
    summary: 'run a command on this computer',
    detail: 'uname -a',
    technician: 'ada@example.com',
    deadline: '2030-01-01T00:00:00.000Z',
  },
  {
    event: 'consent-decision',
    session: FIRST,
    id: 'r1',
    permission: 'exec',
    decision: 'once',
    by: 'end-user',
  },
  // A hostile command line: it must not clear the end user's screen when the log is shown.
  { event: 'channel-open', session: FIRST, channel: 1, kind: 'exec', command: 'uname -a\u001b[2J' },
  { event: 'channel-close', session: FIRST, channel: 1, kind: 'exec', exitCode: 0 },
  { event: 'session-end', session: FIRST, by: 'technician', reason: 'the technician ended the session' },
  {
    event: 'session-start',
    session: SECOND,
    server: 'http://127.0.0.1:8080',
    technician: { name: 'Bob Jones', email: 'bob@example.com', organisation: 'Acme IT' },
    sas: 'river stone cloud',
  },
  { event: 'session-end', session: SECOND, by: 'host', reason: 'the end user ended the session' },
]

let world: CliWorld
let auditFile: string

beforeAll(() => {
  world = new CliWorld()
  auditFile = path.join(world.env.XDG_STATE_HOME!, 'rescue', 'audit.jsonl')
  const log = AuditLog.open(auditFile)
  for (const record of session) log.record(record)
  log.close()
})

afterAll(() => world?.dispose())

describe('rescue log', () => {
  it('shows one line per entry: local time, the session, and what happened, sanitized', async () => {
    const result = await world.run(['log'])
    expect(result.exitCode).toBe(ExitCode.ok)
    expect(result.stderr).toBe('')
    const lines = result.stdout.split('\n')
    expect(lines).toHaveLength(session.length)
    for (const line of lines)
      expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}(k3jd8s2q|p7zq2rt6) {2}\S/)
    expect(result.stdout).toContain(
      'session started with Ada Lovelace <ada@example.com> of Analytical Ltd through http://127.0.0.1:8080; ' +
        'security words: apple banana cherry',
    )
    expect(result.stdout).toContain('asked to run a command on this computer: uname -a')
    expect(result.stdout).toContain('exec allowed once by the end user')
    expect(result.stdout).toContain('exec channel 1 opened: uname -a\\x1b[2J')
    expect(result.stdout).not.toContain('\u001b')
    expect(result.stdout).toContain('session ended by the technician: the technician ended the session')
  })

  it('--json gives the file, the entries as recorded, and how many lines were skipped', async () => {
    const json = onlyJson(await world.run(['log', '--json']))
    expect(json.file).toBe(auditFile)
    expect(json.skipped).toBe(0)
    const entries = json.entries as Array<Record<string, unknown>>
    expect(entries).toHaveLength(session.length)
    expect(entries[3]).toMatchObject({ event: 'channel-open', command: 'uname -a\u001b[2J' })
    for (const entry of entries) expect(Date.parse(entry.time as string)).not.toBeNaN()
  })

  it('--session with a prefix shows only that session', async () => {
    const result = await world.run(['log', '--session', 'p7zq2r'])
    expect(result.exitCode).toBe(ExitCode.ok)
    expect(result.stdout.split('\n')).toHaveLength(2)
    expect(result.stdout).toContain('Bob Jones')
    expect(result.stdout).not.toContain('Ada Lovelace')

    const json = onlyJson(await world.run(['log', '--session', FIRST, '--json']))
    expect((json.entries as unknown[]).length).toBe(6)
  })

  it('--session with fewer than 6 characters is a usage error with a next step', async () => {
    const result = await world.run(['log', '--session', 'p7z'])
    expect(result.exitCode).toBe(ExitCode.usage)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/too short/)
    expect(result.stderr).toMatch(/^Next: /m)
  })

  it('says when the log is empty, and warns on stderr about lines it could not read', async () => {
    const elsewhere = path.join(world.dir('other'), 'audit.jsonl')
    const empty = await world.run(['log'], { env: { RESCUE_AUDIT_LOG: elsewhere } })
    expect(empty.exitCode).toBe(ExitCode.ok)
    expect(empty.stdout).toBe('The audit log is empty: no technician has connected to this computer yet.')

    fs.writeFileSync(elsewhere, `${fs.readFileSync(auditFile, 'utf8')}{"cut short by a cr\nnot json\n`)
    const damaged = await world.run(['log'], { env: { RESCUE_AUDIT_LOG: elsewhere } })
    expect(damaged.exitCode).toBe(ExitCode.ok)
    expect(damaged.stdout.split('\n')).toHaveLength(session.length)
    expect(damaged.stderr).toMatch(/2 lines of .*audit\.jsonl could not be read/)
  })
})

describe('rescue log --verify', () => {
  it('says "intact, N entries" for the log as rescue wrote it, and --json says the same', async () => {
    const human = await world.run(['log', '--verify'])
    expect(human.exitCode).toBe(ExitCode.ok)
    expect(human.stdout).toBe(`${auditFile}: intact, ${session.length} entries.`)
    expect(human.stderr).toBe('')

    const json = onlyJson(await world.run(['log', '--verify', '--json']))
    expect(json).toEqual({
      status: 'intact',
      entries: session.length,
      unchained: 0,
      file: auditFile,
    })
  })

  it('names the first line that no longer links when an entry was edited, with its own exit code', async () => {
    const edited = path.join(world.dir('edited'), 'audit.jsonl')
    // The end user's "allow once" becomes a denial: what someone covering their tracks would do.
    const original = fs.readFileSync(auditFile, 'utf8')
    expect(original).toContain('"decision":"once"')
    fs.writeFileSync(edited, original.replace('"decision":"once"', '"decision":"deny"'))
    const env = { RESCUE_AUDIT_LOG: edited }

    const human = await world.run(['log', '--verify'], { env })
    expect(human.exitCode).toBe(ExitCode.auditBroken)
    expect(human.stdout).toBe('')
    expect(human.stderr).toContain(`Error: the audit log ${edited} has been changed:`)
    expect(human.stderr).toContain('line 4 does not link to line 3: line 3 was edited')
    expect(human.stderr).toMatch(/^Next: look at line 4 /m)

    const json = await world.run(['log', '--verify', '--json'], { env })
    expect(json.exitCode).toBe(ExitCode.auditBroken)
    expect(onlyJson(json)).toMatchObject({
      error: {
        code: 'auditBroken',
        exitCode: ExitCode.auditBroken,
        message: expect.stringContaining('line 4'),
      },
    })
  })

  it('calls a log written before entries were chained unchained, not changed', async () => {
    const older = path.join(world.dir('older'), 'audit.jsonl')
    const unlinked = fs
      .readFileSync(auditFile, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const { prev: _prev, ...rest } = JSON.parse(line) as Record<string, unknown>
        return JSON.stringify(rest)
      })
    fs.writeFileSync(older, `${unlinked.join('\n')}\n`)
    const result = await world.run(['log', '--verify'], { env: { RESCUE_AUDIT_LOG: older } })
    expect(result.exitCode).toBe(ExitCode.ok)
    expect(result.stdout).toBe(
      `${older}: unchained, ${session.length} entries written by an older rescue, before entries were chained; they cannot be checked.`,
    )
  })
})
