/**
 * Proof that a reconnecting side is the one that paired: an ed25519 key derived from the pairing's
 * resume key (which only the two paired sides have), whose public half the side gave the gateway
 * right after pairing. The gateway checks a signature over a fresh challenge, so it can tell the
 * paired side from anyone who saw the traffic, and a proof is good for one challenge only; it
 * cannot make a proof itself. The stream's own RESUME frames then prove it end to end as well.
 */
import { createHmac } from 'node:crypto'
import nacl from 'tweetnacl'

export type ResumeRole = 'host' | 'technician'

/** The signing key this side proves resumes with. */
export function resumeSigningKey(resumeKey: Uint8Array, role: ResumeRole): nacl.SignKeyPair {
  const seed = createHmac('sha256', resumeKey).update(`rescue-resume-sign-v1 ${role}`).digest()
  return nacl.sign.keyPair.fromSeed(new Uint8Array(seed))
}

function challengeBytes(sessionId: string, role: ResumeRole, nonce: string): Uint8Array {
  return new TextEncoder().encode(`rescue-resume-v1\n${sessionId}\n${role}\n${nonce}`)
}

/** A fresh challenge: 32 random bytes, base64. */
export function resumeNonce(): string {
  return Buffer.from(nacl.randomBytes(32)).toString('base64')
}

export function signResume(
  key: nacl.SignKeyPair,
  sessionId: string,
  role: ResumeRole,
  nonce: string,
): string {
  return Buffer.from(nacl.sign.detached(challengeBytes(sessionId, role, nonce), key.secretKey)).toString(
    'base64',
  )
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
  if (key.length !== nacl.sign.publicKeyLength || signature.length !== nacl.sign.signatureLength) return false
  return nacl.sign.detached.verify(challengeBytes(sessionId, role, nonce), signature, key)
}
