/** Password hashing with scrypt from Node's crypto and a 24-character CSPRNG salt per password. */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

// N=2^15, r=8 costs about 32 MiB and ~60 ms here: slow for a guesser, fine for a login.
const PARAMS: ScryptOptions = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }
const KEY_LENGTH = 64

function derive(password: string, salt: string): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, PARAMS, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  )
}

/** 18 random bytes in base64url are exactly 24 characters. */
export function newSalt(): string {
  return randomBytes(18).toString('base64url')
}

export async function hashPassword(
  password: string,
  salt = newSalt(),
): Promise<{ hash: string; salt: string }> {
  return { hash: (await derive(password, salt)).toString('base64'), salt }
}

export async function verifyPassword(password: string, salt: string, hash: string): Promise<boolean> {
  const expected = Buffer.from(hash, 'base64')
  const actual = await derive(password, salt)
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
