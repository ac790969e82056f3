import { describe, expect, it } from 'vitest'
import { UserError } from '../errors.js'
import { checkNewPassword, oneTimePassword, PASSWORD_POLICY, passwordExpired } from './password-policy.js'

async function refusal(password: string, about = {}): Promise<UserError> {
  const error = await checkNewPassword(password, about).then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error, password).toBeInstanceOf(UserError)
  return error as UserError
}

describe('the password policy', () => {
  it('refuses fewer than 12 characters, however random', async () => {
    expect((await refusal('Xq7#vL2!pR9')).message).toMatch(/at least 12/)
  })

  it.each([
    'password1234',
    'Password1234!',
    'aaaaaaaaaaaaaaaa',
    'qwertyuiopasdf',
    'abcdefghijklmn',
    '123456789012',
  ])('refuses %j as too easy to guess, saying why', async (password) => {
    const error = await refusal(password)
    expect(error.code).toBe('usage')
    expect(error.message).toMatch(/too weak: \w/)
    expect(error.hint).toMatch(/words/)
  })

  it("refuses a password made of the user's own email", async () => {
    expect((await refusal('bob.smith@acme.example', { email: 'bob.smith@acme.example' })).message).toMatch(
      /too weak/,
    )
  })

  it.each([
    'correct horse battery staple',
    'seven green bottles on the wall',
    'tr0ub4dor & 3 lemons',
    'vN4$q8Lz!mW2xR',
  ])('accepts %j', async (password) => {
    await expect(checkNewPassword(password, { email: 'bob@acme.example' })).resolves.toBeUndefined()
  })

  it('says a password is expired after the maximum age, and when its age is unknown', () => {
    const now = Date.UTC(2030, 5, 1)
    const day = 86_400_000
    expect(passwordExpired(new Date(now - 89 * day).toISOString(), now, PASSWORD_POLICY.maxAgeMs)).toBe(false)
    expect(passwordExpired(new Date(now - 91 * day).toISOString(), now, PASSWORD_POLICY.maxAgeMs)).toBe(true)
    expect(passwordExpired(null, now, PASSWORD_POLICY.maxAgeMs)).toBe(true)
  })

  it('makes one-time passwords of 4 groups of 5 unambiguous characters, never the same twice', () => {
    const made = new Set(Array.from({ length: 500 }, oneTimePassword))
    expect(made.size).toBe(500)
    for (const password of made)
      expect(password).toMatch(/^([a-km-zA-HJ-NP-Z2-9]{5}-){3}[a-km-zA-HJ-NP-Z2-9]{5}$/)
  })
})
