/**
 * X25519 and SHA-512 for the handshake, from Node's crypto (OpenSSL): on a cold start tweetnacl's
 * pure-JS X25519 took 50-140 ms per key pair, OpenSSL well under 2 ms. Outputs are the same bytes
 * (RFC 7748, FIPS 180-4); tweetnacl stays for secretbox. Keys cross this module as raw 32-byte
 * arrays, wrapped (DER, JWK) only for the moment OpenSSL needs them.
 */

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto'

import { PairingError } from './pairing-error.js'

export const X25519_KEY_LENGTH = 32

/** Raw key pair, the same shape as tweetnacl's box key pair, so fixed test keys still fit. */
export interface X25519KeyPair {
  publicKey: Uint8Array
  secretKey: Uint8Array
}

// PKCS#8 PrivateKeyInfo and SPKI SubjectPublicKeyInfo for OID 1.3.101.110 (X25519, RFC 8410):
// a fixed prefix followed by the 32 raw key bytes.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')

function rawFromDer(der: Buffer, prefix: Buffer): Uint8Array {
  try {
    if (der.length !== prefix.length + X25519_KEY_LENGTH || !der.subarray(0, prefix.length).equals(prefix)) {
      throw new PairingError('BAD_KEY', 'node:crypto exported an X25519 key in an unexpected encoding')
    }
    return new Uint8Array(der.subarray(prefix.length))
  } finally {
    der.fill(0)
  }
}

function derFromRaw(raw: Uint8Array, prefix: Buffer): Buffer {
  // Buffer.alloc never hands out the shared pool, so zeroing it afterwards touches only our bytes.
  const der = Buffer.alloc(prefix.length + raw.length)
  prefix.copy(der)
  der.set(raw, prefix.length)
  return der
}

/** A fresh ephemeral key pair as raw bytes. */
export function generateX25519KeyPair(): X25519KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519', {
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  })
  return { publicKey: rawFromDer(publicKey, SPKI_PREFIX), secretKey: rawFromDer(privateKey, PKCS8_PREFIX) }
}

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0
  for (const byte of bytes) acc |= byte
  return acc === 0
}

// The secret goes in as DER, a buffer we can zero at once (a JWK would leave it in an immutable
// string). The public key goes in as JWK, which skips OpenSSL's decoder search: about 30 us
// against 200 us. KeyObjects cannot be wiped: they hold the secret until garbage collection, as
// tweetnacl's scalarMult temporaries did.
function importKeys(
  secretKey: Uint8Array,
  peerPublicKey: Uint8Array,
): { privateKey: KeyObject; publicKey: KeyObject } {
  const privateDer = derFromRaw(secretKey, PKCS8_PREFIX)
  try {
    return {
      privateKey: createPrivateKey({ key: privateDer, format: 'der', type: 'pkcs8' }),
      publicKey: createPublicKey({
        key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peerPublicKey).toString('base64url') },
        format: 'jwk',
      }),
    }
  } catch {
    throw new PairingError('BAD_KEY', 'an X25519 key could not be imported')
  } finally {
    privateDer.fill(0)
  }
}

const lowOrder = () => new PairingError('BAD_KEY', 'the peer key is a low-order point')

/**
 * X25519(secretKey, peerPublicKey), byte for byte what tweetnacl's scalarMult gives. A low-order
 * peer key forces the all-zero secret, which an attacker would know too: OpenSSL refuses to derive
 * it, and the all-zero check stays as a second line. Throws only PairingError (BAD_KEY).
 */
export function x25519(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  if (secretKey.length !== X25519_KEY_LENGTH || peerPublicKey.length !== X25519_KEY_LENGTH) {
    throw new PairingError('BAD_KEY', `X25519 keys must be ${X25519_KEY_LENGTH} bytes`)
  }
  const keys = importKeys(secretKey, peerPublicKey)
  let shared: Buffer
  try {
    shared = diffieHellman(keys)
  } catch {
    // For X25519 OpenSSL fails a derivation only on the all-zero result (ERR_OSSL_FAILED_DURING_DERIVATION).
    throw lowOrder()
  }
  try {
    if (isAllZero(shared)) throw lowOrder()
    return new Uint8Array(shared)
  } finally {
    shared.fill(0)
  }
}

/** SHA-512, the commitment and the transcript hash. */
export function sha512(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha512').update(data).digest())
}
