/**
 * Proof that a reconnecting side is the one that paired: an ed25519 key derived from the pairing's
 * resume key (which only the two paired sides have), whose public half the side gave the gateway
 * right after pairing. The gateway checks a signature over a fresh challenge, so it can tell the
 * paired side from anyone who saw the traffic, and a proof is good for one challenge only; it
 * cannot make a proof itself. The stream's own RESUME frames then prove it end to end as well.
 */
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto'

export type ResumeRole = 'host' | 'technician'

/** An ed25519 key pair: the raw 32-byte public key the gateway is given, and the private key. */
export interface ResumeSigningKey {
  publicKey: Uint8Array
  privateKey: KeyObject
}

// DER headers that turn a raw ed25519 seed or public key into PKCS#8 / SPKI for node:crypto.
const PKCS8_SEED_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PUBLIC_KEY_LENGTH = 32
const SIGNATURE_LENGTH = 64

/**
 * The signing key this side proves resumes with. node:crypto's ed25519 rather than tweetnacl's
 * (the same keys and signatures, RFC 8032): tweetnacl's key derivation in JavaScript cost 40-65 ms
 * of each session's set-up on both sides (issue 12).
 */
export function resumeSigningKey(resumeKey: Uint8Array, role: ResumeRole): ResumeSigningKey {
  const seed = createHmac('sha256', resumeKey).update(`rescue-resume-sign-v1 ${role}`).digest()
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_SEED_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  })
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  return { publicKey: new Uint8Array(spki.subarray(spki.length - PUBLIC_KEY_LENGTH)), privateKey }
}

function challengeBytes(sessionId: string, role: ResumeRole, nonce: string): Uint8Array {
  return new TextEncoder().encode(`rescue-resume-v1\n${sessionId}\n${role}\n${nonce}`)
}

/** A fresh challenge: 32 random bytes, base64. */
export function resumeNonce(): string {
  return randomBytes(32).toString('base64')
}

export function signResume(
  key: ResumeSigningKey,
  sessionId: string,
  role: ResumeRole,
  nonce: string,
): string {
  return sign(null, challengeBytes(sessionId, role, nonce), key.privateKey).toString('base64')
}

export function verifyResume(
  publicKey: string,
  sessionId: string,
  role: ResumeRole,
  nonce: string,
  proof: string,
): boolean {
  const key = Buffer.from(publicKey, 'base64')
  const signature = Buffer.from(proof, 'base64')
  if (key.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false
  try {
    const spki = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, key]), format: 'der', type: 'spki' })
    return verify(null, challengeBytes(sessionId, role, nonce), spki, signature)
  } catch {
    // A public key that is no curve point: no proof made with it can be good.
    return false
  }
}
