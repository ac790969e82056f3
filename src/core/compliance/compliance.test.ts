import { parse } from 'csv-parse/sync'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { UserError } from '../errors.js'
import { toCsv } from './csv.js'
import { parseReportRange } from './reports.js'
import { parseRetention } from './retention.js'
import {
  backoffMs,
  checkWebhookUrl,
  DEFAULT_WEBHOOK_TIMING,
  signWebhook,
  verifyWebhookSignature,
} from './webhook.js'

/** RFC 4180 as a spreadsheet reads it (csv-parse, not our own writer's library twin). */
function readCsv(text: string): string[][] {
  return parse(text, { relax_column_count: true }) as string[][]
}

const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/

describe('CSV for spreadsheets', () => {
  it('starts with a BOM, ends records with CRLF, and quotes commas, quotes and line breaks', () => {
    const csv = toCsv(['a', 'b'], [['x,y', 'say "hi"\nnext line']])
    expect(csv).toBe('\uFEFFa,b\r\n"x,y","say ""hi""\nnext line"\r\n')
  })

  it('reads back every cell as written, with a leading quote exactly on cells a spreadsheet would run', () => {
    const cell = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 30 }),
      fc.constantFrom(
        '=1+1',
        '+SUM(A1)',
        '-2+3',
        '@cmd',
        '\t=x',
        '\r=x',
        '=HYPERLINK("http://e")',
        '＝1',
        '',
      ),
      fc.string({ maxLength: 20 }).map((s) => `=${s}`),
    )
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 2, maxLength: 2 }), { maxLength: 8 }), (rows) => {
        const csv = toCsv(['one', 'two'], rows)
        expect(csv.startsWith('\uFEFF')).toBe(true)
        const read = readCsv(csv.slice(1))
        expect(read).toEqual([
          ['one', 'two'],
          ...rows.map((row) => row.map((c) => (FORMULA_START.test(c) ? `'${c}` : c))),
        ])
        for (const value of read.flat()) expect(FORMULA_START.test(value)).toBe(false)
      }),
    )
  })

  it('leaves numbers as numbers, and writes empty cells for null', () => {
    expect(toCsv(['n', 'm'], [[42, null]])).toBe('\uFEFFn,m\r\n42,\r\n')
  })
})

describe('report ranges', () => {
  const now = new Date('2026-03-15T12:00:00Z')
  it('reads dates as UTC days, --to including its day, and defaults to the last 30 days', () => {
    expect(parseReportRange({ from: '2026-01-01', to: '2026-01-31' }, now)).toEqual({
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-02-01T00:00:00.000Z',
    })
    expect(parseReportRange({}, now)).toEqual({
      from: '2026-02-13T12:00:00.000Z',
      to: '2026-03-15T12:00:00.000Z',
    })
    expect(
      parseReportRange({ from: '2026-03-01T09:00:00+01:00', to: '2026-03-01T10:00:00Z' }, now).from,
    ).toBe('2026-03-01T08:00:00.000Z')
  })

  it('refuses a backwards range and what is not a date, as usage errors', () => {
    for (const options of [
      { from: '2026-02-01', to: '2026-01-01' },
      { from: 'yesterday' },
      { to: '31/01/2026' },
      { from: '2026-13-45' },
    ]) {
      expect(() => parseReportRange(options, now)).toThrow(UserError)
    }
    expect(() => parseReportRange({ from: '2026-02-01', to: '2026-01-01' }, now)).toThrow(/backwards/)
  })
})

describe('retention periods', () => {
  it('reads days, weeks and years, within a day and ten years', () => {
    expect(parseRetention('90d')).toBe(90)
    expect(parseRetention('12w')).toBe(84)
    expect(parseRetention('2y')).toBe(730)
    expect(parseRetention('30')).toBe(30)
    for (const text of ['0d', '11y', '-5d', '90 days', '', '1.5y'])
      expect(() => parseRetention(text)).toThrow(UserError)
  })
})

describe('webhook signatures', () => {
  const secret = 'a secret of at least sixteen'
  it('verifies what it signed, within five minutes, and nothing altered', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }), (body, t) => {
        const header = signWebhook(secret, t, body)
        expect(verifyWebhookSignature(secret, header, body, t + 299)).toBe(true)
        expect(verifyWebhookSignature(secret, header, body, t + 301)).toBe(false)
        expect(verifyWebhookSignature(secret, header, `${body} `, t)).toBe(false)
        expect(verifyWebhookSignature('another secret, sixteen+', header, body, t)).toBe(false)
        expect(verifyWebhookSignature(secret, header.replace(`t=${t}`, `t=${t + 1}`), body, t)).toBe(false)
      }),
    )
    for (const header of [undefined, '', 'v1=00', 't=1,v1=zz', `t=1,v1=${'0'.repeat(63)}`]) {
      expect(verifyWebhookSignature(secret, header, 'x', 1)).toBe(false)
    }
  })

  it('backs off doubling from 30 s up to an hour', () => {
    const delays = [1, 2, 3, 8, 20].map((attempt) => backoffMs(attempt, DEFAULT_WEBHOOK_TIMING))
    expect(delays).toEqual([30_000, 60_000, 120_000, 3_600_000, 3_600_000])
  })
})

describe('webhook URLs', () => {
  const self = ['http://127.0.0.1:8080', 'https://rescue.acme.example']
  it('takes http(s) URLs elsewhere', () => {
    expect(checkWebhookUrl('https://crm.example/hooks/rescue', self).host).toBe('crm.example')
    expect(checkWebhookUrl('http://127.0.0.1:9000/hook', self).port).toBe('9000')
  })
  it('refuses other schemes, credentials, and the gateway itself under its names and loopback', () => {
    for (const url of [
      'ftp://crm.example/',
      'file:///etc/passwd',
      'gopher://x',
      'crm.example/hook',
      'https://u:p@crm.example/',
      'http://127.0.0.1:8080/v1/admin/users',
      'http://localhost:8080/',
      'http://[::1]:8080/',
      'http://0.0.0.0:8080/',
      'https://rescue.acme.example/x',
      'https://RESCUE.acme.example:443/x',
    ]) {
      expect(() => checkWebhookUrl(url, self), url).toThrow(UserError)
    }
  })
})
