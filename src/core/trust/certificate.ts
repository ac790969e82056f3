/**
 * Device certificates: the organisation's CA key vouches that a device key belongs to a
 * technician (email) of the organisation, for a window of time. A small, versioned, canonical
 * binary encoding, shown as one line (`rescue-cert-v1 BASE64 email`). Every certificate that
 * arrives (from a file, from the network) is decoded as hostile input: bounded size, exact
 * lengths, valid UTF-8, fields checked with zod; the decoder throws only CertificateError.
 *
 * Layout (all integers big-endian):
 *   version 0x01 (1) | CA public key (32) | device public key (32) | serial (16)
 *   | not before, seconds since 1970 (8) | not after (8)
 *   | email length (1) | email, UTF-8 | organisation length (1) | organisation, UTF-8
 *   | ed25519 signature by the CA (64) over "rescue-device-cert-v1\0" and every byte before it
 */
import crypto from 'node:crypto'
import nacl from 'tweetnacl'
import { z } from 'zod'
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SIGNATURE_LENGTH, decodeBase64, encodeBase64 } from './keys.js'

export const CERTIFICATE_VERSION = 1
export const CERTIFICATE_PREFIX = 'rescue-cert-v1'
const SIGNING_LABEL = new TextEncoder().encode('rescue-device-cert-v1\0')
const SERIAL_LENGTH = 16
const FIXED_LENGTH = 1 + 32 + 32 + SERIAL_LENGTH + 8 + 8
export const MAX_EMAIL_BYTES = 254
export const MAX_ORGANISATION_BYTES = 200
/** The largest encoded certificate; anything longer is refused before it is read. */
export const MAX_CERTIFICATE_BYTES = FIXED_LENGTH + 1 + MAX_EMAIL_BYTES + 1 + MAX_ORGANISATION_BYTES + 64
/** The longest certificate line accepted (base64 of the largest certificate, plus a comment). */
export const MAX_CERTIFICATE_LINE = 2048
/** Later than any sensible certificate, and still exact in a double. */
const MAX_TIME = 2 ** 40

export class CertificateError extends Error {
  override readonly name = 'CertificateError'
}

// Controls, format characters (bidi overrides, zero-width), unassigned and private-use code points.
const INVISIBLE = /\p{C}/u

const bytesOf = (length: number) =>
  z.custom<Uint8Array>((value) => value instanceof Uint8Array && value.length === length, `${length} bytes`)

/** What a certificate says, before it is signed. Times are whole seconds since 1970. */
export const certificateFields = z.object({
  caKey: bytesOf(ED25519_PUBLIC_KEY_LENGTH),
  deviceKey: bytesOf(ED25519_PUBLIC_KEY_LENGTH),
  serial: bytesOf(SERIAL_LENGTH),
  notBefore: z.number().int().nonnegative().max(MAX_TIME),
  notAfter: z.number().int().nonnegative().max(MAX_TIME),
  email: z
    .string()
    .min(3)
    .refine((email) => Buffer.byteLength(email) <= MAX_EMAIL_BYTES, 'email too long')
    .regex(/^[^\s@]+@[^\s@]+$/u, 'not an email')
    .refine((email) => !INVISIBLE.test(email), 'email has invisible characters'),
  organisation: z
    .string()
    .min(1)
    .refine((name) => Buffer.byteLength(name) <= MAX_ORGANISATION_BYTES, 'organisation too long')
    .refine((name) => name.trim() === name && !INVISIBLE.test(name), 'organisation has invisible characters'),
})
export type CertificateFields = z.infer<typeof certificateFields>

export interface Certificate extends CertificateFields {
  signature: Uint8Array
  /** The bytes the signature covers (without the label). */
  signed: Uint8Array
  /** The whole encoding, signature included. */
  bytes: Uint8Array
}

function checkFields(fields: CertificateFields): CertificateFields {
  const parsed = certificateFields.safeParse(fields)
  if (!parsed.success)
    throw new CertificateError(`bad field: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
  if (parsed.data.notAfter <= parsed.data.notBefore) throw new CertificateError('it expires before it starts')
  return parsed.data
}

function u64(value: number): Uint8Array {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value))
  return bytes
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

function encodeBody(fields: CertificateFields): Uint8Array {
  const email = new TextEncoder().encode(fields.email)
  const organisation = new TextEncoder().encode(fields.organisation)
  return concat([
    Uint8Array.of(CERTIFICATE_VERSION),
    fields.caKey,
    fields.deviceKey,
    fields.serial,
    u64(fields.notBefore),
    u64(fields.notAfter),
    Uint8Array.of(email.length),
    email,
    Uint8Array.of(organisation.length),
    organisation,
  ])
}

const toSign = (body: Uint8Array) => concat([SIGNING_LABEL, body])

/** A fresh serial for a new certificate. */
export const newSerial = (): Uint8Array => new Uint8Array(crypto.randomBytes(SERIAL_LENGTH))

/** Signs a certificate with the CA's ed25519 secret key (64 bytes, tweetnacl's form). */
export function signCertificate(fields: CertificateFields, caSecretKey: Uint8Array): Uint8Array {
  const checked = checkFields(fields)
  const caKey = caSecretKey.slice(32)
  if (!Buffer.from(caKey).equals(Buffer.from(checked.caKey))) {
    throw new CertificateError('the CA key in the certificate is not the signing key')
  }
  const body = encodeBody(checked)
  return concat([body, nacl.sign.detached(toSign(body), caSecretKey)])
}

/**
 * Decodes a certificate's bytes; throws CertificateError for anything but the one canonical
 * encoding. It does not check the signature: see `checkCertificateSignature`.
 */
export function decodeCertificate(input: unknown): Certificate {
  if (!(input instanceof Uint8Array)) throw new CertificateError('not bytes')
  if (input.length > MAX_CERTIFICATE_BYTES) throw new CertificateError('too long')
  if (input.length < FIXED_LENGTH + 2 + ED25519_SIGNATURE_LENGTH) throw new CertificateError('too short')
  const bytes = input.slice()
  if (bytes[0] !== CERTIFICATE_VERSION) throw new CertificateError(`unknown version ${bytes[0]}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let offset = 1
  const take = (length: number) => {
    if (offset + length > bytes.length) throw new CertificateError('too short')
    const part = bytes.slice(offset, offset + length)
    offset += length
    return part
  }
  const time = () => {
    if (offset + 8 > bytes.length) throw new CertificateError('too short')
    const value = view.getBigUint64(offset)
    offset += 8
    if (value > BigInt(MAX_TIME)) throw new CertificateError('a time out of range')
    return Number(value)
  }
  const text = () => {
    const length = take(1)[0]!
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(take(length))
    } catch (error) {
      if (error instanceof CertificateError) throw error
      throw new CertificateError('text that is not UTF-8')
    }
  }
  const caKey = take(32)
  const deviceKey = take(32)
  const serial = take(SERIAL_LENGTH)
  const notBefore = time()
  const notAfter = time()
  const email = text()
  const organisation = text()
  const bodyLength = offset
  const signature = take(ED25519_SIGNATURE_LENGTH)
  if (offset !== bytes.length) throw new CertificateError('trailing bytes')
  const fields = checkFields({ caKey, deviceKey, serial, notBefore, notAfter, email, organisation })
  const signed = bytes.slice(0, bodyLength)
  // One encoding per certificate: text that does not encode back to the same bytes is refused.
  if (!Buffer.from(encodeBody(fields)).equals(Buffer.from(signed)))
    throw new CertificateError('not canonical')
  return { ...fields, signature, signed, bytes }
}

/** True when the CA key named inside the certificate signed it. */
export function checkCertificateSignature(certificate: Certificate): boolean {
  return nacl.sign.detached.verify(toSign(certificate.signed), certificate.signature, certificate.caKey)
}

/** One line for files and copying: `rescue-cert-v1 BASE64 email`. */
export function formatCertificate(bytes: Uint8Array): string {
  const certificate = decodeCertificate(bytes)
  return `${CERTIFICATE_PREFIX} ${encodeBase64(bytes)} ${certificate.email}`
}

/** Reads a certificate line (the comment after the base64 is ignored); throws CertificateError. */
export function parseCertificateLine(line: unknown): Certificate {
  if (typeof line !== 'string') throw new CertificateError('not text')
  if (line.length > MAX_CERTIFICATE_LINE) throw new CertificateError('too long')
  const [prefix, encoded] = line.trim().split(/\s+/)
  if (prefix !== CERTIFICATE_PREFIX || encoded === undefined) {
    throw new CertificateError(`it does not start with ${CERTIFICATE_PREFIX}`)
  }
  const bytes = decodeBase64(encoded)
  if (!bytes) throw new CertificateError('not base64')
  return decodeCertificate(bytes)
}
