import { describe, expect, it } from 'vitest'

import { hashPassword, newSalt, verifyPassword } from './password.js'

// Each scrypt call costs tens of milliseconds, so these tests hash only a handful of passwords.
describe('password hashing', () => {
  it('verifies the password it hashed', async () => {
    const { hash, salt } = await hashPassword('correct horse battery staple')
    expect(await verifyPassword('correct horse battery staple', salt, hash)).toBe(true)
  })

  it('rejects a wrong password, including near misses', async () => {
    const { hash, salt } = await hashPassword('correct horse battery staple')
    for (const wrong of [
      'Correct horse battery staple',
      'correct horse battery staple ',
      'correct horse battery stapl',
      '',
    ]) {
      expect(await verifyPassword(wrong, salt, hash), wrong).toBe(false)
    }
  })

  it('rejects the right password with another salt', async () => {
    const { hash } = await hashPassword('s3cret-passphrase')
    expect(await verifyPassword('s3cret-passphrase', newSalt(), hash)).toBe(false)
  })

  it('rejects a damaged or empty stored hash without throwing', async () => {
    const { hash, salt } = await hashPassword('s3cret-passphrase')
    expect(await verifyPassword('s3cret-passphrase', salt, '')).toBe(false)
    expect(await verifyPassword('s3cret-passphrase', salt, hash.slice(0, 40))).toBe(false)
    expect(await verifyPassword('s3cret-passphrase', salt, 'not base64 at all!')).toBe(false)
  })

  it('uses a fresh 24-character salt each time', async () => {
    const first = await hashPassword('same password')
    const second = await hashPassword('same password')
    expect(first.salt).toMatch(/^[A-Za-z0-9_-]{24}$/)
    expect(second.salt).toMatch(/^[A-Za-z0-9_-]{24}$/)
    expect(first.salt).not.toBe(second.salt)
    // So two users with the same password do not share a hash.
    expect(first.hash).not.toBe(second.hash)
  })

  it('newSalt gives 24 URL-safe characters, never the same twice', () => {
    const salts = new Set(Array.from({ length: 1000 }, newSalt))
    expect(salts.size).toBe(1000)
    for (const salt of salts) expect(salt).toMatch(/^[A-Za-z0-9_-]{24}$/)
  })

  it('gives the same hash for the same password and salt, and another for another salt', async () => {
    const salt = newSalt()
    const a = await hashPassword('same password', salt)
    const b = await hashPassword('same password', salt)
    const c = await hashPassword('same password', newSalt())
    expect(a).toEqual(b)
    expect(a.salt).toBe(salt)
    expect(c.hash).not.toBe(a.hash)
  })

  it('normalises to NFKC, so the same password typed differently still verifies', async () => {
    // U+FB01 LATIN SMALL LIGATURE FI, as some keyboards and autocorrect produce it.
    const { hash, salt } = await hashPassword('\uFB01sh and chips')
    expect(await verifyPassword('fish and chips', salt, hash)).toBe(true)
    // Precomposed é versus e + combining acute accent.
    const accented = await hashPassword('caf\u00e9 au lait')
    expect(await verifyPassword('cafe\u0301 au lait', accented.salt, accented.hash)).toBe(true)
  })

  it('keeps passwords that differ after normalisation apart', async () => {
    const { hash, salt } = await hashPassword('\uFB01sh and chips')
    expect(await verifyPassword('flsh and chips', salt, hash)).toBe(false)
  })
})
