import fc from 'fast-check'
import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'
import {
  CertificateError,
  MAX_CERTIFICATE_BYTES,
  checkCertificateSignature,
  decodeCertificate,
  formatCertificate,
  parseCertificateLine,
  signCertificate,
  type CertificateFields,
} from './certificate.js'

const ca = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7))
const device = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(9))

function fields(overrides: Partial<CertificateFields> = {}): CertificateFields {
  return {
    caKey: ca.publicKey,
    deviceKey: device.publicKey,
    serial: new Uint8Array(16).fill(1),
    notBefore: 1_700_000_000,
    notAfter: 1_700_000_000 + 90 * 86_400,
    email: 'alice@acme.example',
    organisation: 'Acme IT',
    ...overrides,
  }
}

/** Decoding must either give a certificate or throw CertificateError: never anything else. */
function decodeOrError(bytes: unknown): 'ok' | 'error' {
  try {
    decodeCertificate(bytes)
    return 'ok'
  } catch (error) {
    expect(error).toBeInstanceOf(CertificateError)
    return 'error'
  }
}

describe('device certificates', () => {
  it('round-trips what was signed, and the CA signature checks', () => {
    const bytes = signCertificate(fields(), ca.secretKey)
    const certificate = decodeCertificate(bytes)
    expect(certificate).toMatchObject({
      email: 'alice@acme.example',
      organisation: 'Acme IT',
      notBefore: 1_700_000_000,
    })
    expect(checkCertificateSignature(certificate)).toBe(true)
    expect(parseCertificateLine(formatCertificate(bytes)).bytes).toEqual(bytes)
  })

  it('refuses to sign with a key other than the one named as CA', () => {
    const other = nacl.sign.keyPair()
    expect(() => signCertificate(fields(), other.secretKey)).toThrow(CertificateError)
  })

  it('refuses fields that could mislead: an invisible character, an empty window, a non-email', () => {
    expect(() => signCertificate(fields({ email: 'alice\u200b@acme.example' }), ca.secretKey)).toThrow(
      CertificateError,
    )
    expect(() => signCertificate(fields({ organisation: 'Acme\u202eTI' }), ca.secretKey)).toThrow(
      CertificateError,
    )
    expect(() => signCertificate(fields({ notAfter: 1_700_000_000 }), ca.secretKey)).toThrow('expires before')
    expect(() => signCertificate(fields({ email: 'alice' }), ca.secretKey)).toThrow(CertificateError)
  })

  it('a changed email (or any byte) no longer carries the CA signature', () => {
    const bytes = signCertificate(fields(), ca.secretKey)
    const text = Buffer.from(bytes).toString('latin1').replace('alice', 'mallo')
    const forged = decodeCertificate(new Uint8Array(Buffer.from(text, 'latin1')))
    expect(forged.email).toBe('mallo@acme.example')
    expect(checkCertificateSignature(forged)).toBe(false)
  })

  it('refuses a line of another kind, bad base64, or one too long', () => {
    const line = formatCertificate(signCertificate(fields(), ca.secretKey))
    expect(() => parseCertificateLine(line.replace('rescue-cert-v1', 'rescue-cert-v2'))).toThrow(
      'does not start',
    )
    expect(() => parseCertificateLine(line.replace(/ \S+ /, ' AAAA* '))).toThrow('base64')
    expect(() => parseCertificateLine(`rescue-cert-v1 ${'A'.repeat(4000)}`)).toThrow('too long')
    expect(() => parseCertificateLine(42)).toThrow(CertificateError)
  })

  it('decoder: any bytes at all give a certificate or a CertificateError (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: MAX_CERTIFICATE_BYTES + 16 }), (bytes) => {
        decodeOrError(bytes)
      }),
      { numRuns: 2000 },
    )
    for (const value of [undefined, null, 'text', [1, 2, 3], new ArrayBuffer(8)]) {
      expect(decodeOrError(value)).toBe('error')
    }
  })

  it('decoder: every cut, extension or single-byte change of a valid certificate is refused or fails its signature (fast-check)', () => {
    const bytes = signCertificate(fields(), ca.secretKey)
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (index, xor) => {
        const changed = bytes.slice()
        changed[index] = changed[index]! ^ xor
        try {
          expect(checkCertificateSignature(decodeCertificate(changed))).toBe(false)
        } catch (error) {
          expect(error).toBeInstanceOf(CertificateError)
        }
      }),
      // Each run checks an ed25519 signature in tweetnacl (milliseconds): enough runs to hit every field.
      { numRuns: 250 },
    )
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.uint8Array({ minLength: 1, maxLength: 8 }), (cut, extra) => {
        expect(decodeOrError(bytes.slice(0, cut))).toBe('error')
        expect(decodeOrError(new Uint8Array([...bytes, ...extra]))).toBe('error')
      }),
    )
  })

  it('decoder: whatever valid fields are signed decode back to the same fields (fast-check)', () => {
    const label = fc
      .string({ minLength: 1, maxLength: 40, unit: 'grapheme' })
      .filter((text) => !/\p{C}|\s|@/u.test(text))
    fc.assert(
      fc.property(
        label,
        label,
        fc
          .string({ minLength: 1, maxLength: 60 })
          .filter((text) => text.trim() === text && !/\p{C}/u.test(text)),
        fc.integer({ min: 0, max: 2 ** 39 }),
        fc.integer({ min: 1, max: 2 ** 39 }),
        (user, domain, organisation, notBefore, length) => {
          const input = fields({
            email: `${user}@${domain}`,
            organisation,
            notBefore,
            notAfter: notBefore + length,
          })
          const bytes = signCertificate(input, ca.secretKey)
          const decoded = decodeCertificate(bytes)
          expect(decoded).toMatchObject({
            email: input.email,
            organisation: input.organisation,
            notBefore: input.notBefore,
            notAfter: input.notAfter,
          })
          expect(checkCertificateSignature(decoded)).toBe(true)
        },
      ),
      { numRuns: 30 },
    )
  })
})
