/**
 * The technician's proof inside the sealed hello, and the host's check of it. The technician
 * presents its device certificate and a signature by its device key over this session's pairing
 * transcript (session id, commitment, both ephemeral keys) and its SSH key for the session. A
 * gateway in the middle runs two pairings with two different transcripts, so a proof made for
 * one does not verify in the other, and without the device key it cannot make a new one.
 */
import crypto from 'node:crypto'
import nacl from 'tweetnacl'
import { z } from 'zod'
import {
  CertificateError,
  MAX_CERTIFICATE_LINE,
  checkCertificateSignature,
  parseCertificateLine,
  type Certificate,
} from './certificate.js'
import { ED25519_SIGNATURE_LENGTH, decodeBase64, encodeBase64, fingerprint, sameBytes } from './keys.js'

const PROOF_LABEL = new TextEncoder().encode('rescue-device-proof-v1\0')
/** A certificate that starts a little in the future still counts: clocks drift. */
export const CLOCK_SKEW_SECONDS = 300

/** What the technician adds to its hello; absent when it has no certificate installed. */
export const deviceProof = z.object({
  certificate: z.string().max(MAX_CERTIFICATE_LINE),
  signature: z.string().max(128),
})
export type DeviceProof = z.infer<typeof deviceProof>

/** What the technician needs to make a proof: its certificate line and a signer holding its device key. */
export interface DeviceCredential {
  certificate: string
  sign(message: Uint8Array): Uint8Array
}

/** The pairing this proof belongs to. */
export interface ProofContext {
  /** SHA-512 of the pairing transcript (`PairingResult.transcriptHash`). */
  transcriptHash: Uint8Array
  /** The technician's SSH public key for this session, as sent in its hello. */
  sshKey: string
}

/** An organisation key the host trusts (`--trust`). */
export interface TrustAnchor {
  publicKey: Uint8Array
}

/** Who the technician is, as the organisation's key says by signature. */
export interface VerifiedTechnician {
  email: string
  organisation: string
  /** The fingerprint of the organisation key that signed the certificate. */
  caFingerprint: string
  deviceFingerprint: string
  /** When the certificate stops being valid (ISO-8601). */
  validUntil: string
}

/** Why the host refused a technician: said to both sides and written to the audit log. */
export class TrustError extends Error {
  override readonly name = 'TrustError'
}

function proofMessage(context: ProofContext): Uint8Array {
  const ssh = crypto.createHash('sha256').update(context.sshKey, 'utf8').digest()
  return Buffer.concat([PROOF_LABEL, context.transcriptHash, ssh])
}

/** The technician's side: its certificate and its signature over this pairing. */
export function makeDeviceProof(credential: DeviceCredential, context: ProofContext): DeviceProof {
  return {
    certificate: credential.certificate,
    signature: encodeBase64(credential.sign(proofMessage(context))),
  }
}

/** A device credential from a 32-byte ed25519 seed and a certificate line. */
export function deviceCredentialFrom(seed: Uint8Array, certificate: string): DeviceCredential {
  const { secretKey } = nacl.sign.keyPair.fromSeed(seed)
  return { certificate, sign: (message) => nacl.sign.detached(message, secretKey) }
}

const utc = (seconds: number) => new Date(seconds * 1000).toISOString()

export interface VerifyOptions {
  anchors: readonly TrustAnchor[]
  /** The hello's `device` field, unparsed: anything a peer sent. */
  proof: unknown
  context: ProofContext
  /** The email the gateway vouches for: a certificate for anyone else is refused. */
  gatewayEmail?: string
  /** Seconds since 1970; the host's clock. */
  now?: number
}

/**
 * The host's side: checks the certificate (one of `anchors` signed it, it is valid now, it names
 * the technician the gateway paired) and that its device key signed this very pairing. Throws
 * TrustError saying why not.
 */
export function verifyDeviceProof(options: VerifyOptions): VerifiedTechnician {
  const now = options.now ?? Math.floor(Date.now() / 1000)
  if (options.proof === undefined) {
    throw new TrustError('the technician presented no certificate from your organisation')
  }
  const parsed = deviceProof.safeParse(options.proof)
  if (!parsed.success) throw new TrustError("the technician's certificate is malformed")
  let certificate: Certificate
  try {
    certificate = parseCertificateLine(parsed.data.certificate)
  } catch (error) {
    const why = error instanceof CertificateError ? `: ${error.message}` : ''
    throw new TrustError(`the technician's certificate is malformed${why}`)
  }
  const caFingerprint = fingerprint(certificate.caKey)
  if (!options.anchors.some((anchor) => sameBytes(anchor.publicKey, certificate.caKey))) {
    throw new TrustError(
      `the technician's certificate is signed by ${caFingerprint}, not by your organisation's key`,
    )
  }
  if (!checkCertificateSignature(certificate)) {
    throw new TrustError("the technician's certificate is not signed by your organisation's key (forged)")
  }
  if (now + CLOCK_SKEW_SECONDS < certificate.notBefore) {
    throw new TrustError(`the technician's certificate is not valid before ${utc(certificate.notBefore)}`)
  }
  if (now >= certificate.notAfter) {
    throw new TrustError(`the technician's certificate expired on ${utc(certificate.notAfter)}`)
  }
  const gatewayEmail = options.gatewayEmail
  if (gatewayEmail !== undefined && gatewayEmail.toLowerCase() !== certificate.email.toLowerCase()) {
    throw new TrustError(
      `the technician's certificate is for ${certificate.email}, but the gateway says this is ${gatewayEmail}`,
    )
  }
  const signature = decodeBase64(parsed.data.signature)
  const signed =
    signature?.length === ED25519_SIGNATURE_LENGTH &&
    nacl.sign.detached.verify(proofMessage(options.context), signature, certificate.deviceKey)
  if (!signed) {
    throw new TrustError(
      "the technician's device key did not sign this session's pairing (a proof relayed or replayed from another one)",
    )
  }
  return {
    email: certificate.email,
    organisation: certificate.organisation,
    caFingerprint,
    deviceFingerprint: fingerprint(certificate.deviceKey),
    validUntil: utc(certificate.notAfter),
  }
}
