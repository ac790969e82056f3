import crypto from 'node:crypto'
import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'
import { formatCertificate, signCertificate, type CertificateFields } from './certificate.js'
import { fingerprint } from './keys.js'
import {
  deviceCredentialFrom,
  makeDeviceProof,
  TrustError,
  verifyDeviceProof,
  type ProofContext,
} from './proof.js'

const ca = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(3))
const deviceSeed = new Uint8Array(32).fill(4)
const device = nacl.sign.keyPair.fromSeed(deviceSeed)
const NOW = 1_800_000_000

function certificate(overrides: Partial<CertificateFields> = {}, caKeys = ca): string {
  return formatCertificate(
    signCertificate(
      {
        caKey: caKeys.publicKey,
        deviceKey: device.publicKey,
        serial: new Uint8Array(16),
        notBefore: NOW - 86_400,
        notAfter: NOW + 86_400,
        email: 'alice@acme.example',
        organisation: 'Acme IT',
        ...overrides,
      },
      caKeys.secretKey,
    ),
  )
}

const context = (): ProofContext => ({
  transcriptHash: new Uint8Array(crypto.randomBytes(64)),
  sshKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ7y technician',
})

function verify(
  cert: string,
  options: {
    signedFor?: ProofContext
    checkedFor?: ProofContext
    gatewayEmail?: string
    now?: number
    anchors?: Uint8Array[]
  } = {},
) {
  const signedFor = options.signedFor ?? context()
  const proof = makeDeviceProof(deviceCredentialFrom(deviceSeed, cert), signedFor)
  return verifyDeviceProof({
    anchors: (options.anchors ?? [ca.publicKey]).map((publicKey) => ({ publicKey })),
    proof,
    context: options.checkedFor ?? signedFor,
    gatewayEmail: options.gatewayEmail ?? 'alice@acme.example',
    now: options.now ?? NOW,
  })
}

describe('the technician proof a --trust host checks', () => {
  it('accepts a valid certificate whose device key signed this pairing, and says who by which key', () => {
    expect(verify(certificate(), { gatewayEmail: 'Alice@ACME.example' })).toEqual({
      email: 'alice@acme.example',
      organisation: 'Acme IT',
      caFingerprint: fingerprint(ca.publicKey),
      deviceFingerprint: fingerprint(device.publicKey),
      validUntil: new Date((NOW + 86_400) * 1000).toISOString(),
    })
  })

  it('refuses a proof signed over another transcript (relayed from a second pairing by a gateway in the middle)', () => {
    expect(() => verify(certificate(), { signedFor: context(), checkedFor: context() })).toThrow(
      /did not sign this session's pairing/,
    )
  })

  it('refuses the same transcript with another SSH key (the session key swapped)', () => {
    const signedFor = context()
    expect(() =>
      verify(certificate(), { signedFor, checkedFor: { ...signedFor, sshKey: 'ssh-ed25519 AAAAother' } }),
    ).toThrow(TrustError)
  })

  it('refuses an expired certificate, and one not valid yet (beyond 5 minutes of clock skew)', () => {
    expect(() => verify(certificate({ notBefore: NOW - 100, notAfter: NOW - 1 }))).toThrow(/expired on/)
    expect(() => verify(certificate({ notBefore: NOW + 3600, notAfter: NOW + 7200 }))).toThrow(
      /not valid before/,
    )
    expect(verify(certificate({ notBefore: NOW + 60, notAfter: NOW + 7200 })).email).toBe(
      'alice@acme.example',
    )
  })

  it('refuses a certificate from another CA, even a well-formed one', () => {
    const other = nacl.sign.keyPair()
    expect(() => verify(certificate({}, other))).toThrow(
      `signed by ${fingerprint(other.publicKey)}, not by your organisation's key`,
    )
  })

  it('refuses a certificate that names the trusted CA but was signed by another key (forged)', () => {
    const other = nacl.sign.keyPair()
    const genuine = certificate()
    const forgedBytes = Buffer.from(genuine.split(' ')[1]!, 'base64')
    forgedBytes.set(nacl.sign.detached(Buffer.from('x'), other.secretKey), forgedBytes.length - 64)
    expect(() => verify(`rescue-cert-v1 ${forgedBytes.toString('base64')}`)).toThrow(/forged/)
  })

  it('refuses a certificate for another email than the technician the gateway paired', () => {
    expect(() => verify(certificate({ email: 'bob@acme.example' }))).toThrow(
      "the technician's certificate is for bob@acme.example, but the gateway says this is alice@acme.example",
    )
  })

  it('refuses no proof, a malformed one, and garbage in the certificate, as TrustError', () => {
    const anchors = [{ publicKey: ca.publicKey }]
    expect(() => verifyDeviceProof({ anchors, proof: undefined, context: context() })).toThrow(
      /no certificate/,
    )
    for (const proof of [
      null,
      'x',
      { certificate: 1 },
      { certificate: 'rescue-cert-v1 AAAA', signature: '' },
    ]) {
      expect(() => verifyDeviceProof({ anchors, proof, context: context() })).toThrow(TrustError)
    }
  })
})
