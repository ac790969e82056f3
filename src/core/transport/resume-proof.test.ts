import { randomBytes } from 'node:crypto'
import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'
import { resumeNonce, resumeSigningKey, signResume, verifyResume } from './resume-proof.js'
import { createHmac } from 'node:crypto'

describe('resume proofs', () => {
  const resumeKey = randomBytes(32)
  const host = resumeSigningKey(resumeKey, 'host')
  const publicKey = Buffer.from(host.publicKey).toString('base64')
  const nonce = resumeNonce()
  const proof = signResume(host, 'session1', 'host', nonce)

  it('verify for the session, role and challenge they were made for', () => {
    expect(verifyResume(publicKey, 'session1', 'host', nonce, proof)).toBe(true)
  })

  it('are good for one challenge only: a proof seen once does not answer the next challenge', () => {
    expect(verifyResume(publicKey, 'session1', 'host', resumeNonce(), proof)).toBe(false)
  })

  it('do not move to another session or to the other side', () => {
    expect(verifyResume(publicKey, 'session2', 'host', nonce, proof)).toBe(false)
    const technician = Buffer.from(resumeSigningKey(resumeKey, 'technician').publicKey).toString('base64')
    expect(verifyResume(technician, 'session1', 'technician', nonce, proof)).toBe(false)
  })

  it('cannot be made without the pairing’s resume key', () => {
    const stranger = resumeSigningKey(randomBytes(32), 'host')
    expect(
      verifyResume(publicKey, 'session1', 'host', nonce, signResume(stranger, 'session1', 'host', nonce)),
    ).toBe(false)
  })

  it('refuse keys and proofs of the wrong size instead of throwing', () => {
    expect(verifyResume('AAAA', 'session1', 'host', nonce, proof)).toBe(false)
    expect(verifyResume(publicKey, 'session1', 'host', nonce, 'AAAA')).toBe(false)
  })

  it('are the ed25519 keys and signatures tweetnacl made, so an older peer or gateway still agrees', () => {
    const seed = createHmac('sha256', resumeKey).update('rescue-resume-sign-v1 host').digest()
    const theirs = nacl.sign.keyPair.fromSeed(new Uint8Array(seed))
    expect(Buffer.from(host.publicKey)).toEqual(Buffer.from(theirs.publicKey))
    const message = new TextEncoder().encode(`rescue-resume-v1\nsession1\nhost\n${nonce}`)
    expect(Buffer.from(proof, 'base64')).toEqual(Buffer.from(nacl.sign.detached(message, theirs.secretKey)))
    const theirProof = Buffer.from(nacl.sign.detached(message, theirs.secretKey)).toString('base64')
    expect(verifyResume(publicKey, 'session1', 'host', nonce, theirProof)).toBe(true)
  })
})
