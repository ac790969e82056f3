import fc from 'fast-check'
import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'

import { PairingError, type PairingErrorCode } from './pairing-error.js'
import { generateX25519KeyPair, sha512, x25519 } from './x25519.js'

const hex = (value: string) => Uint8Array.from(Buffer.from(value, 'hex'))
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

function outcome(run: () => Uint8Array): string | PairingErrorCode {
  try {
    return toHex(run())
  } catch (error) {
    if (error instanceof PairingError) return error.code
    throw error
  }
}

// Encodings of the points of order 1, 2, 4 and 8, canonical or not, each also with the ignored
// top bit set (libsodium's blocklist): every one forces an all-zero shared secret.
const lowOrderPoints = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].flatMap((point) => {
  const high = hex(point)
  high[31]! |= 0x80
  return [hex(point), high]
})

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 })

describe('X25519 from node:crypto', () => {
  it('matches RFC 7748 section 6.1', () => {
    const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
    const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb')
    const alicePublic = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'
    const bobPublic = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'
    expect(toHex(nacl.scalarMult.base(alice))).toBe(alicePublic)
    expect(toHex(x25519(alice, hex(bobPublic)))).toBe(shared)
    expect(toHex(x25519(bob, hex(alicePublic)))).toBe(shared)
  })

  it('gives the same bytes as tweetnacl scalarMult for any keys, and BAD_KEY exactly where it gives zero', () => {
    fc.assert(
      fc.property(key32, fc.oneof(key32, fc.constantFrom(...lowOrderPoints)), (secret, peer) => {
        const reference = nacl.scalarMult(secret, peer)
        const expected = reference.every((byte) => byte === 0) ? 'BAD_KEY' : toHex(reference)
        expect(outcome(() => x25519(secret, peer))).toBe(expected)
      }),
      { numRuns: 300 },
    )
  })

  it('names every low-order point as such', () => {
    const secret = nacl.randomBytes(32)
    for (const point of lowOrderPoints) {
      expect(() => x25519(secret, point), toHex(point)).toThrow('the peer key is a low-order point')
    }
  })

  it('throws only BAD_KEY for keys of the wrong length, and leaves the caller the secret key', () => {
    const secret = nacl.randomBytes(32)
    const before = toHex(secret)
    for (const [s, p] of [
      [secret, new Uint8Array(31)],
      [secret, new Uint8Array(33)],
      [new Uint8Array(0), nacl.randomBytes(32)],
    ] as const) {
      expect(outcome(() => x25519(s, p))).toBe('BAD_KEY')
    }
    expect(outcome(() => x25519(secret, nacl.randomBytes(32)))).toMatch(/^[0-9a-f]{64}$/)
    expect(toHex(secret)).toBe(before)
  })

  it('generates fresh raw key pairs whose public key is the tweetnacl base-point multiple', () => {
    const pairs = Array.from({ length: 8 }, generateX25519KeyPair)
    for (const { publicKey, secretKey } of pairs) {
      expect([publicKey.length, secretKey.length]).toEqual([32, 32])
      expect(toHex(publicKey)).toBe(toHex(nacl.scalarMult.base(secretKey)))
    }
    expect(new Set(pairs.map((pair) => toHex(pair.secretKey))).size).toBe(pairs.length)
    const [a, b] = pairs as [(typeof pairs)[0], (typeof pairs)[0]]
    expect(x25519(a.secretKey, b.publicKey)).toEqual(x25519(b.secretKey, a.publicKey))
  })
})

describe('SHA-512 from node:crypto', () => {
  it('gives the same bytes as tweetnacl hash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        expect(toHex(sha512(data))).toBe(toHex(nacl.hash(data)))
      }),
    )
  })
})
