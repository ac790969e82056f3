import { describe, expect, it } from 'vitest'
import { newTotpSecret, totpCode, totpUri, verifyTotp } from './totp.js'

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0)
const STEP = 30_000

describe('TOTP', () => {
  it('makes an otpauth URI with the issuer, the account and the secret', () => {
    const secret = newTotpSecret()
    const uri = new URL(totpUri(secret, 'Acme IT', 'bob@acme.example'))
    expect(uri.protocol).toBe('otpauth:')
    expect(uri.host).toBe('totp')
    expect(uri.searchParams.get('secret')).toBe(secret)
    expect(uri.searchParams.get('issuer')).toBe('Acme IT')
    expect(decodeURIComponent(uri.pathname)).toContain('bob@acme.example')
    expect(secret).toMatch(/^[A-Z2-7]{32}$/)
    expect(newTotpSecret()).not.toBe(secret)
  })

  it('accepts the current code, and one step early or late for clock drift, but not two', () => {
    const secret = newTotpSecret()
    expect(verifyTotp(secret, totpCode(secret, T0), null, T0)).toMatchObject({ ok: true })
    expect(verifyTotp(secret, totpCode(secret, T0 - STEP), null, T0)).toMatchObject({ ok: true })
    expect(verifyTotp(secret, totpCode(secret, T0 + STEP), null, T0)).toMatchObject({ ok: true })
    expect(verifyTotp(secret, totpCode(secret, T0 - 3 * STEP), null, T0)).toEqual({
      ok: false,
      reason: 'wrong',
    })
  })

  it('refuses a wrong or malformed code, and another secret', () => {
    const secret = newTotpSecret()
    const code = totpCode(secret, T0)
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0')
    for (const attempt of [wrong, '', '12345', '1234567', 'abcdef', `${code}0`]) {
      expect(verifyTotp(secret, attempt, null, T0), attempt).toEqual({ ok: false, reason: 'wrong' })
    }
    expect(verifyTotp(newTotpSecret(), code, null, T0).ok).toBe(false)
    // Spaces as apps show them ("123 456") are fine.
    expect(verifyTotp(secret, `${code.slice(0, 3)} ${code.slice(3)}`, null, T0).ok).toBe(true)
  })

  it('refuses a code used once already, and any earlier one, within its window', () => {
    const secret = newTotpSecret()
    const first = verifyTotp(secret, totpCode(secret, T0), null, T0)
    expect(first.ok).toBe(true)
    const step = first.ok ? first.step : -1
    expect(verifyTotp(secret, totpCode(secret, T0), step, T0 + 5000)).toEqual({
      ok: false,
      reason: 'replayed',
    })
    expect(verifyTotp(secret, totpCode(secret, T0 - STEP), step, T0 + 5000)).toEqual({
      ok: false,
      reason: 'replayed',
    })
    // The next step's code is fresh.
    const next = verifyTotp(secret, totpCode(secret, T0 + STEP), step, T0 + STEP)
    expect(next).toMatchObject({ ok: true, step: step + 1 })
  })
})
