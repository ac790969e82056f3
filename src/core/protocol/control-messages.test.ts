import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { decodeControlMessage, type ControlMessage } from './control-messages.js'

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value))

const waiting = {
  type: 'waiting',
  sessionId: 'k5nvmh3wgq2ixbmz6z4nkw4o3e',
  expiresAt: '2030-01-01T00:20:00.000Z',
  heartbeatMs: 15_000,
} as const
const technician = { name: 'Ada Lovelace', email: 'ada@example.com', organisation: 'Analytical Ltd' }

/** A hand-written statement of the wire format, independent of the zod schema. */
function isValidMessage(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const v = value as Record<string, unknown>
  const str = (key: string, of: Record<string, unknown> = v) => typeof of[key] === 'string'
  switch (v.type) {
    case 'waiting':
      return (
        str('sessionId') &&
        str('expiresAt') &&
        // An ISO-8601 UTC time as Date#toISOString writes it (so a countdown can be shown).
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(v.expiresAt as string) &&
        typeof v.heartbeatMs === 'number' &&
        Number.isSafeInteger(v.heartbeatMs) &&
        v.heartbeatMs > 0
      )
    case 'paired': {
      if (!str('sessionId')) return false
      if (v.technician === undefined) return true
      const t = v.technician
      if (typeof t !== 'object' || t === null || Array.isArray(t)) return false
      const id = t as Record<string, unknown>
      return str('name', id) && str('email', id) && str('organisation', id)
    }
    case 'ended':
      return (
        ['host', 'technician', 'gateway'].includes(v.by as string) &&
        str('reason') &&
        (v.code === undefined ||
          ['pinExpired', 'connectionLost', 'pairingFailed', 'failure'].includes(v.code as string))
      )
    default:
      return false
  }
}

const validMessage: fc.Arbitrary<ControlMessage> = fc.oneof(
  fc.record({
    type: fc.constant('waiting' as const),
    sessionId: fc.string(),
    expiresAt: fc
      .date({ min: new Date(2000, 0, 1), max: new Date(2100, 0, 1), noInvalidDate: true })
      .map((d) => d.toISOString()),
    heartbeatMs: fc.integer({ min: 1, max: 2 ** 31 }),
  }),
  fc.record(
    {
      type: fc.constant('paired' as const),
      sessionId: fc.string(),
      technician: fc.record({ name: fc.string(), email: fc.string(), organisation: fc.string() }),
    },
    { requiredKeys: ['type', 'sessionId'] },
  ),
  fc.record(
    {
      type: fc.constant('ended' as const),
      by: fc.constantFrom('host' as const, 'technician' as const, 'gateway' as const),
      reason: fc.string(),
      code: fc.constantFrom(
        'pinExpired' as const,
        'connectionLost' as const,
        'pairingFailed' as const,
        'failure' as const,
      ),
    },
    { requiredKeys: ['type', 'by', 'reason'] },
  ),
)

/** Near misses: a valid message with one field replaced by any JSON value, or dropped. */
const nearMiss = fc
  .tuple(validMessage, fc.nat(), fc.option(fc.jsonValue(), { nil: undefined }))
  .map(([message, index, replacement]) => {
    const keys = Object.keys(message)
    const key = keys[index % keys.length]!
    const copy: Record<string, unknown> = { ...message }
    if (replacement === undefined) delete copy[key]
    else copy[key] = replacement
    return copy
  })

describe('decodeControlMessage', () => {
  it('property: a valid message round-trips unchanged', () => {
    fc.assert(
      fc.property(validMessage, (message) => {
        expect(decodeControlMessage(encode(message))).toEqual(message)
      }),
    )
  })

  it('decodes each kind of message the gateway sends', () => {
    expect(decodeControlMessage(encode(waiting))).toEqual(waiting)
    const paired = { type: 'paired', sessionId: waiting.sessionId, technician }
    expect(decodeControlMessage(encode(paired))).toEqual(paired)
    const pairedBare = { type: 'paired', sessionId: waiting.sessionId }
    expect(decodeControlMessage(encode(pairedBare))).toEqual(pairedBare)
    const ended = { type: 'ended', by: 'gateway', reason: 'the PIN expired', code: 'pinExpired' }
    expect(decodeControlMessage(encode(ended))).toEqual(ended)
    const endedByHost = { type: 'ended', by: 'host', reason: 'the end user ended the session' }
    expect(decodeControlMessage(encode(endedByHost))).toEqual(endedByHost)
  })

  it('ignores fields it does not know, so a newer gateway still talks to this client', () => {
    expect(decodeControlMessage(encode({ ...waiting, region: 'eu' }))).toEqual(waiting)
  })

  it('rejects malformed messages', () => {
    for (const bad of [
      'not json',
      '',
      '{',
      'null',
      '42',
      '"waiting"',
      '[]',
      '{}',
      JSON.stringify({ type: 'hello' }),
      JSON.stringify({ ...waiting, heartbeatMs: 0 }),
      JSON.stringify({ ...waiting, heartbeatMs: -1000 }),
      JSON.stringify({ ...waiting, heartbeatMs: 1.5 }),
      JSON.stringify({ ...waiting, heartbeatMs: '15000' }),
      JSON.stringify({ type: 'waiting', sessionId: 's', expiresAt: 'e' }),
      JSON.stringify({ type: 'paired' }),
      JSON.stringify({ type: 'paired', sessionId: 's', technician: { name: 'x' } }),
      JSON.stringify({ type: 'paired', sessionId: 's', technician: null }),
      JSON.stringify({ type: 'ended', by: 'mallory', reason: 'r' }),
      JSON.stringify({ type: 'ended', by: 'gateway', reason: 'r', code: 'bug' }),
      JSON.stringify({ type: 'ended', by: 'gateway' }),
      '{"type":"waiting","sessionId":"s","expiresAt":"e","heartbeatMs":1e400}',
    ]) {
      expect(decodeControlMessage(new TextEncoder().encode(bad)), bad).toBeUndefined()
    }
  })

  it('rejects bytes that are not UTF-8 JSON', () => {
    expect(decodeControlMessage(Uint8Array.of(0xff, 0xfe, 0x00, 0x7b))).toBeUndefined()
    expect(decodeControlMessage(new Uint8Array())).toBeUndefined()
  })

  it('property: never throws on arbitrary bytes, and decodes only valid messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const decoded = decodeControlMessage(data)
        if (decoded !== undefined) expect(isValidMessage(decoded)).toBe(true)
      }),
      { numRuns: 1000 },
    )
  })

  it('property: any JSON value decodes exactly when it is a valid message', () => {
    const anyJson = fc.oneof(fc.jsonValue(), validMessage, nearMiss)
    fc.assert(
      fc.property(anyJson, (value) => {
        const decoded = decodeControlMessage(encode(value))
        if (!isValidMessage(value)) {
          expect(decoded).toBeUndefined()
        } else {
          // Unknown fields are dropped; every field kept is the sender's.
          expect(decoded).toBeDefined()
          expect(value).toMatchObject(decoded!)
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('property: survives deeply nested JSON', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.boolean(), (depth, asObject) => {
        const text = asObject
          ? `${'{"type":'.repeat(depth)}1${'}'.repeat(depth)}`
          : `${'['.repeat(depth)}${']'.repeat(depth)}`
        expect(decodeControlMessage(new TextEncoder().encode(text))).toBeUndefined()
      }),
      { numRuns: 50 },
    )
  })
})
