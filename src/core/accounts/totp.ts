/**
 * TOTP second factor (RFC 6238 through otpauth): 30-second steps, 6 digits, SHA-1 as every
 * authenticator app expects; a code is accepted one step early or late for clock drift, and a
 * step once accepted is never accepted again, so a code seen over a shoulder cannot be replayed.
 */
import * as OTPAuth from 'otpauth'

const PERIOD_S = 30
const DIGITS = 6
const WINDOW = 1

/** A fresh 160-bit secret, in base32 as authenticator apps take it. */
export function newTotpSecret(): string {
  return new OTPAuth.Secret({ size: 20 }).base32
}

function totp(secret: string, issuer = 'rescue', label = 'rescue'): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer,
    label,
    secret: OTPAuth.Secret.fromBase32(secret),
    algorithm: 'SHA1',
    digits: DIGITS,
    period: PERIOD_S,
  })
}

/** The otpauth:// URI an authenticator app scans (it holds the secret: show it once, never log it). */
export function totpUri(secret: string, issuer: string, label: string): string {
  return totp(secret, issuer, label).toString()
}

/** The code for `timestamp` (tests and scripts that hold the secret). */
export function totpCode(secret: string, timestamp = Date.now()): string {
  return totp(secret).generate({ timestamp })
}

export type TotpCheck = { ok: true; step: number } | { ok: false; reason: 'wrong' | 'replayed' }

/** Checks a code against the secret; `lastStep` is the step accepted last, refused again. */
export function verifyTotp(
  secret: string,
  code: string,
  lastStep: number | null,
  timestamp = Date.now(),
): TotpCheck {
  const token = code.replace(/\s+/g, '')
  if (!/^\d{6}$/.test(token)) return { ok: false, reason: 'wrong' }
  const delta = totp(secret).validate({ token, timestamp, window: WINDOW })
  if (delta === null) return { ok: false, reason: 'wrong' }
  const step = Math.floor(timestamp / 1000 / PERIOD_S) + delta
  if (lastStep !== null && step <= lastStep) return { ok: false, reason: 'replayed' }
  return { ok: true, step }
}
