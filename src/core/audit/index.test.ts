import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { DecidedBy } from '../consent/types.js'
import { ExitCode, UserError } from '../errors.js'
import { GENESIS, linkTo } from './chain.js'
import {
  AuditLog,
  defaultAuditPath,
  describeAuditEntry,
  formatAuditLine,
  readAuditLog,
  verifyAuditLog,
  type AuditEntry,
  type AuditRecord,
} from './index.js'

const SESSION_A = 'abcdefghijklmnopqrstuvwxyz'
const SESSION_B = 'abcdefgh234567abcdefgh2345'
const SESSION_C = 'zzzzzzzzzzzzzzzzzzzzzzzzzz'

const start: AuditRecord = {
  event: 'session-start',
  session: SESSION_A,
  server: 'https://gateway.example',
  technician: { name: 'Ada Lovelace', email: 'ada@example.com', organisation: 'Analytical Ltd' },
  sas: 'apple banana cherry',
}

let dir: string
let file: string

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-audit-'))
  file = path.join(dir, 'state', 'rescue', 'audit.jsonl')
})

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

const mode = (target: string) => fs.statSync(target).mode & 0o777

function write(records: AuditRecord[]): void {
  const log = AuditLog.open(file)
  for (const record of records) log.record(record)
  log.close()
}

const entry = (record: AuditRecord): AuditEntry => ({ ...record, time: '2025-03-04T05:06:07.000Z' })

describe('defaultAuditPath', () => {
  const saved = { ...process.env }
  afterEach(() => {
    process.env.XDG_STATE_HOME = saved.XDG_STATE_HOME
    process.env.RESCUE_AUDIT_LOG = saved.RESCUE_AUDIT_LOG
    if (saved.XDG_STATE_HOME === undefined) delete process.env.XDG_STATE_HOME
    if (saved.RESCUE_AUDIT_LOG === undefined) delete process.env.RESCUE_AUDIT_LOG
  })

  it('is audit.jsonl in $XDG_STATE_HOME/rescue, unless RESCUE_AUDIT_LOG names an absolute path', () => {
    delete process.env.RESCUE_AUDIT_LOG
    process.env.XDG_STATE_HOME = dir
    expect(defaultAuditPath()).toBe(path.join(dir, 'rescue', 'audit.jsonl'))
    process.env.RESCUE_AUDIT_LOG = 'relative/audit.jsonl'
    expect(defaultAuditPath()).toBe(path.join(dir, 'rescue', 'audit.jsonl'))
    process.env.RESCUE_AUDIT_LOG = path.join(dir, 'elsewhere.jsonl')
    expect(defaultAuditPath()).toBe(path.join(dir, 'elsewhere.jsonl'))
  })
})

describe('AuditLog', () => {
  it.skipIf(process.platform === 'win32')('creates a 0700 folder and a 0600 file', () => {
    write([start])
    expect(mode(path.dirname(file))).toBe(0o700)
    expect(mode(path.join(dir, 'state'))).toBe(0o700)
    expect(mode(file)).toBe(0o600)
  })

  it.skipIf(process.platform === 'win32')(
    'tightens an existing 0644 file to 0600 and keeps its lines',
    () => {
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, `${JSON.stringify(entry(start))}\n`)
      fs.chmodSync(file, 0o644)
      write([{ event: 'grants-revoked', session: SESSION_A, closedChannels: 1 }])
      expect(mode(file)).toBe(0o600)
      expect(readAuditLog(file).entries.map((e) => e.event)).toEqual(['session-start', 'grants-revoked'])
    },
  )

  it('appends across two instances, one JSON line per record, each stamped with the time', () => {
    const before = Date.now()
    write([start])
    write([{ event: 'session-end', session: SESSION_A, by: 'technician', reason: 'done' }])
    const lines = fs.readFileSync(file, 'utf8').split('\n')
    expect(lines).toHaveLength(3)
    expect(lines[2]).toBe('')
    const { entries, skipped } = readAuditLog(file)
    expect(skipped).toBe(0)
    expect(entries).toEqual([
      { ...start, time: expect.any(String) },
      {
        event: 'session-end',
        session: SESSION_A,
        by: 'technician',
        reason: 'done',
        time: expect.any(String),
      },
    ])
    for (const { time } of entries) {
      expect(Date.parse(time)).toBeGreaterThanOrEqual(before - 1000)
      expect(Date.parse(time)).toBeLessThanOrEqual(Date.now() + 1000)
    }
  })

  it('writes each record to the file before record() returns', () => {
    const log = AuditLog.open(file)
    log.record(start)
    expect(readAuditLog(file).entries).toHaveLength(1)
    log.close()
  })

  it('does nothing, and does not throw, when written after close', () => {
    const log = AuditLog.open(file)
    log.record(start)
    log.close()
    expect(() => log.record({ event: 'grants-revoked', session: SESSION_A, closedChannels: 0 })).not.toThrow()
    expect(() => log.close()).not.toThrow()
    expect(readAuditLog(file).entries).toHaveLength(1)
  })

  it('names the path in a UserError when the file cannot be opened', () => {
    const blocker = path.join(dir, 'not-a-folder')
    fs.writeFileSync(blocker, '')
    const target = path.join(blocker, 'audit.jsonl')
    expect(() => AuditLog.open(target)).toThrow(UserError)
    expect(() => AuditLog.open(target)).toThrow(target)
  })

  it('stores an escape sequence as it came, and describes it sanitized', () => {
    const hostile = 'run \u001b[2J\u202e rm -rf /'
    write([{ event: 'channel-open', session: SESSION_A, channel: 3, kind: 'exec', command: hostile }])
    const raw = fs.readFileSync(file, 'utf8')
    expect(raw).not.toContain('\u001b')
    expect(JSON.parse(raw)).toMatchObject({ command: hostile })
    const [stored] = readAuditLog(file).entries
    expect(stored).toMatchObject({ command: hostile })
    const sentence = describeAuditEntry(stored!)
    expect(sentence).toBe('exec channel 3 opened: run \\x1b[2J\\u202e rm -rf /')
    expect(formatAuditLine(stored!)).not.toContain('\u001b')
    expect(formatAuditLine(stored!)).not.toContain('\u202e')
  })
})

describe('the hash chain', () => {
  const lines = () => fs.readFileSync(file, 'utf8').split('\n').slice(0, -1)
  const prevOf = (line: string) => (JSON.parse(line) as { prev: string }).prev

  it('links the first entry to GENESIS and each next one to the line before, across instances', () => {
    write([start, { event: 'grants-revoked', session: SESSION_A, closedChannels: 1 }])
    write([{ event: 'session-end', session: SESSION_A, by: 'host', reason: 'done' }])
    const [first, second, third] = lines()
    expect(prevOf(first!)).toBe(GENESIS)
    expect(prevOf(second!)).toBe(linkTo(first!))
    expect(prevOf(third!)).toBe(linkTo(second!))
    expect(verifyAuditLog(file)).toEqual({ status: 'intact', entries: 3, unchained: 0, file })
    // The link is not an entry's field: the entries read back as they were recorded.
    expect(readAuditLog(file).entries[0]).toEqual({ ...start, time: expect.any(String) })
  })

  it('keeps one chain when two hosts write the same log in turns, each remembering its own last line', () => {
    const one = AuditLog.open(file)
    const two = AuditLog.open(file)
    one.record(start)
    one.record({ event: 'grants-revoked', session: SESSION_A, closedChannels: 0 })
    two.record({ event: 'grants-revoked', session: SESSION_A, closedChannels: 1 })
    one.record({ event: 'grants-revoked', session: SESSION_A, closedChannels: 2 })
    one.record({ event: 'grants-revoked', session: SESSION_A, closedChannels: 3 })
    two.record({ event: 'grants-revoked', session: SESSION_A, closedChannels: 4 })
    one.close()
    two.close()
    const all = lines()
    for (let i = 1; i < all.length; i++) expect(prevOf(all[i]!)).toBe(linkTo(all[i - 1]!))
    expect(verifyAuditLog(file)).toEqual({ status: 'intact', entries: 6, unchained: 0, file })
  })

  it('links to a last line longer than one read of the file end', () => {
    const long = {
      event: 'chat',
      session: SESSION_A,
      from: 'technician',
      time: 'now',
      text: 'x'.repeat(20_000),
    } as const
    write([start, long])
    write([{ event: 'grants-revoked', session: SESSION_A, closedChannels: 0 }])
    const all = lines()
    expect(prevOf(all[2]!)).toBe(linkTo(all[1]!))
    expect(verifyAuditLog(file).status).toBe('intact')
  })

  it('keeps writing the chain after entries written by an older rescue, and counts them unchained', () => {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, `${JSON.stringify(entry(start))}\n${JSON.stringify(entry(start))}\n`)
    expect(verifyAuditLog(file)).toEqual({ status: 'unchained', entries: 2, file })
    write([{ event: 'grants-revoked', session: SESSION_A, closedChannels: 0 }])
    expect(prevOf(lines()[2]!)).toBe(linkTo(JSON.stringify(entry(start))))
    expect(verifyAuditLog(file)).toEqual({ status: 'intact', entries: 3, unchained: 2, file })
  })

  it('starts a new line after a line cut short, rather than gluing the entry to it', () => {
    write([start])
    fs.appendFileSync(file, '{"time":"2025-03-04T05:06:07.000Z","sess')
    write([{ event: 'grants-revoked', session: SESSION_A, closedChannels: 0 }])
    const all = lines()
    expect(all).toHaveLength(3)
    expect(readAuditLog(file).entries.map((e) => e.event)).toEqual(['session-start', 'grants-revoked'])
    // The cut line cannot be checked: it is reported, never hidden.
    expect(() => verifyAuditLog(file)).toThrow(/line 2 has no link/)
  })

  it('finds a missing log intact and empty', () => {
    const missing = path.join(dir, 'missing.jsonl')
    expect(verifyAuditLog(missing)).toEqual({ status: 'intact', entries: 0, unchained: 0, file: missing })
  })

  it('refuses an edited log with auditBroken, naming the file and the line', () => {
    write([
      start,
      { event: 'grants-revoked', session: SESSION_A, closedChannels: 1 },
      { event: 'grants-revoked', session: SESSION_A, closedChannels: 2 },
    ])
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"closedChannels":1', '"closedChannels":0'))
    let error: unknown
    try {
      verifyAuditLog(file)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(UserError)
    expect((error as UserError).exitCode).toBe(ExitCode.auditBroken)
    expect((error as UserError).message).toContain(file)
    expect((error as UserError).message).toMatch(/line 3 does not link to line 2/)
    expect((error as UserError).hint).toMatch(/line 3/)
  })
})

describe('readAuditLog', () => {
  const twoSessions: AuditRecord[] = [
    start,
    { ...start, session: SESSION_B },
    { event: 'grants-revoked', session: SESSION_A, closedChannels: 2 },
    { event: 'grants-revoked', session: SESSION_B, closedChannels: 0 },
    { event: 'auto-approve', session: SESSION_C, permissions: ['shell'] },
  ]

  it('gives no entries and no error for a missing file', () => {
    expect(readAuditLog(path.join(dir, 'missing.jsonl'))).toEqual({ entries: [], skipped: 0 })
  })

  it('skips and counts lines that are not entries, and keeps the ones around them', () => {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const good = JSON.stringify(entry(start))
    const bad = [
      'not json',
      '[1,2,3]',
      'null',
      '"a string"',
      JSON.stringify({ time: '2025-03-04T05:06:07Z', session: SESSION_A }),
      JSON.stringify({ ...entry(start), time: 12 }),
      JSON.stringify({ ...entry(start), time: 'yesterday' }),
      JSON.stringify({ ...entry(start), session: 5 }),
      JSON.stringify({ ...entry(start), event: 'from-the-future' }),
      JSON.stringify({ ...entry(start), technician: 'Ada' }),
      good.slice(0, 20),
    ]
    fs.writeFileSync(file, [good, ...bad, '', '   ', `${good}\r`, ''].join('\n'))
    const { entries, skipped } = readAuditLog(file)
    expect(skipped).toBe(bad.length)
    expect(entries).toEqual([entry(start), entry(start)])
  })

  it('returns every session without a filter, and one session by full id or a unique prefix', () => {
    write(twoSessions)
    expect(readAuditLog(file).entries).toHaveLength(5)
    const sessionsOf = (filter: string) =>
      readAuditLog(file, { session: filter }).entries.map((e) => `${e.session.slice(0, 8)} ${e.event}`)
    expect(sessionsOf(SESSION_A)).toEqual(['abcdefgh session-start', 'abcdefgh grants-revoked'])
    expect(sessionsOf('abcdefghi')).toEqual(['abcdefgh session-start', 'abcdefgh grants-revoked'])
    expect(sessionsOf('ABCDEFGH2')).toEqual(['abcdefgh session-start', 'abcdefgh grants-revoked'])
    expect(sessionsOf('zzzzzz')).toEqual(['zzzzzzzz auto-approve'])
    expect(sessionsOf('qqqqqqqq')).toEqual([])
  })

  it('refuses a prefix that matches two sessions, or one shorter than 6 characters', () => {
    write(twoSessions)
    expect(() => readAuditLog(file, { session: 'abcdefgh' })).toThrow(/matches 2 sessions/)
    expect(() => readAuditLog(file, { session: 'zzzzz' })).toThrow(/too short/)
    expect(() => readAuditLog(path.join(dir, 'missing.jsonl'), { session: 'abc' })).toThrow(/too short/)
  })

  it('never throws, whatever bytes are in the file', () => {
    const line = fc.oneof(
      fc.string(),
      fc.json(),
      fc.constant(JSON.stringify(entry(start))),
      fc
        .record({ time: fc.string(), session: fc.string(), event: fc.string() })
        .map((v) => JSON.stringify(v)),
    )
    fs.mkdirSync(dir, { recursive: true })
    const target = path.join(dir, 'fuzz.jsonl')
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)),
          fc.array(line, { maxLength: 8 }).map((lines) => Buffer.from(lines.join('\n'))),
        ),
        (bytes) => {
          fs.writeFileSync(target, bytes)
          const { entries, skipped } = readAuditLog(target)
          const nonBlank = bytes
            .toString('utf8')
            .split('\n')
            .filter((l) => l.trim() !== '').length
          expect(entries.length + skipped).toBe(nonBlank)
          for (const e of entries) expect(() => formatAuditLine(e)).not.toThrow()
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('describeAuditEntry', () => {
  const describe_ = (record: AuditRecord) => describeAuditEntry(entry(record))

  it('says who the technician was and the security words', () => {
    expect(describe_(start)).toBe(
      'session started with Ada Lovelace <ada@example.com> of Analytical Ltd through https://gateway.example; ' +
        'security words: apple banana cherry',
    )
  })

  it('says what was asked, with the detail when there is one', () => {
    const request = {
      event: 'consent-request',
      session: SESSION_A,
      id: 'r1',
      permission: 'exec',
      summary: 'run a command as bob on this computer',
      technician: 'ada@example.com',
      deadline: '2025-03-04T05:07:07.000Z',
    } as const
    expect(describe_(request)).toBe('ada@example.com asked to run a command as bob on this computer')
    expect(describe_({ ...request, detail: 'uname -a' })).toBe(
      'ada@example.com asked to run a command as bob on this computer: uname -a',
    )
  })

  it('says who decided, for every DecidedBy, and how', () => {
    const decided = (by: DecidedBy, decision: 'once' | 'session' | 'deny' = 'deny') =>
      describe_({
        event: 'consent-decision',
        session: SESSION_A,
        id: 'r1',
        permission: 'shell',
        decision,
        by,
      })
    expect(decided('end-user', 'once')).toBe('shell allowed once by the end user')
    expect(decided('end-user', 'session')).toBe('shell allowed for the rest of the session by the end user')
    expect(decided('end-user')).toBe('shell denied by the end user')
    expect(decided('timeout')).toBe('shell denied: nobody answered in time')
    const all: DecidedBy[] = [
      'end-user',
      'session-grant',
      'auto-approve',
      'timeout',
      'no-terminal',
      'unknown-request',
      'ended',
    ]
    const sentences = all.map((by) => decided(by))
    expect(new Set(sentences).size).toBe(all.length)
    for (const sentence of sentences) expect(sentence).not.toContain('undefined')
  })

  it('numbers channels and says how they closed', () => {
    const channel = { session: SESSION_A, channel: 2, kind: 'shell' } as const
    expect(describe_({ event: 'channel-open', ...channel })).toBe('shell channel 2 opened')
    expect(
      describe_({ event: 'channel-open', ...channel, channel: 3, kind: 'exec', command: 'uname -a' }),
    ).toBe('exec channel 3 opened: uname -a')
    expect(describe_({ event: 'channel-close', ...channel, channel: 3, kind: 'exec', exitCode: 7 })).toBe(
      'exec channel 3 closed, exit status 7',
    )
    expect(describe_({ event: 'channel-close', ...channel, signal: 'KILL' })).toBe(
      'shell channel 2 closed, killed by KILL',
    )
    expect(describe_({ event: 'channel-close', ...channel })).toBe('shell channel 2 closed')
  })

  it('describes revocations, auto-approval, refusals and the end', () => {
    expect(describe_({ event: 'grants-revoked', session: SESSION_A, closedChannels: 2 })).toBe(
      'all grants revoked, 2 channels closed',
    )
    expect(describe_({ event: 'grants-revoked', session: SESSION_A, closedChannels: 1 })).toBe(
      'all grants revoked, 1 channel closed',
    )
    expect(describe_({ event: 'auto-approve', session: SESSION_A, permissions: ['shell', 'exec'] })).toBe(
      'auto-approved: shell, exec',
    )
    expect(describe_({ event: 'refused', session: SESSION_A, request: 'port forwarding' })).toMatch(
      /^refused .*: port forwarding$/,
    )
    expect(describe_({ event: 'env', session: SESSION_A, name: 'LANG', value: 'C.UTF-8' })).toBe(
      'environment variable passed on: LANG=C.UTF-8',
    )
    const end = {
      event: 'session-end',
      session: SESSION_A,
      reason: 'the technician ended the session',
    } as const
    expect(describe_({ ...end, by: 'technician' })).toBe(
      'session ended by the technician: the technician ended the session',
    )
    expect(describe_({ ...end, by: 'host' })).toMatch(/^session ended by the end user: /)
    expect(describe_({ ...end, by: 'gateway', reason: 'lost', code: 'connectionLost' })).toBe(
      'session ended by the gateway: lost (connectionLost)',
    )
  })
})

describe('formatAuditLine', () => {
  it('shows local time to the second, the first 8 characters of the session, and the sentence', () => {
    const time = new Date(2025, 2, 4, 5, 6, 7, 890)
    const line = formatAuditLine({ ...entry(start), time: time.toISOString() })
    expect(line).toBe(`2025-03-04 05:06:07  abcdefgh  ${describeAuditEntry(entry(start))}`)
  })
})
