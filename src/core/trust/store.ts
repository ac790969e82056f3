/**
 * Where trust material lives. The organisation's CA key: a 0600 file the admin keeps offline
 * (never on the gateway), made once and never overwritten. The technician's device key: an
 * ed25519 seed in the OS keychain (or the 0600 file fallback, as for login tokens), made on first
 * use and never sent anywhere. The device's certificate: a 0600 file in the config folder.
 */
import fs from 'node:fs'
import path from 'node:path'
import nacl from 'tweetnacl'
import { z } from 'zod'
import { findSecret, saveSecret, type TokenSource } from '../credentials/index.js'
import { UserError } from '../errors.js'
import { configDir } from '../paths.js'
import {
  CertificateError,
  formatCertificate,
  newSerial,
  parseCertificateLine,
  signCertificate,
  type Certificate,
} from './certificate.js'
import {
  decodeBase64,
  encodeBase64,
  fingerprint,
  formatPublicKey,
  parsePublicKey,
  sameBytes,
} from './keys.js'
import { deviceCredentialFrom, type DeviceCredential, type TrustAnchor } from './proof.js'
import { sanitizeForTerminal } from '../text/sanitize.js'

const CA_FILE_TYPE = 'rescue-ca-ed25519-private'
const DEVICE_KEY_NAME = 'rescue-device-key'
const MAX_FILE_BYTES = 64 * 1024

const caFile = z.object({
  type: z.literal(CA_FILE_TYPE),
  version: z.literal(1),
  organisation: z.string().min(1).max(200),
  seed: z.string().max(100),
})

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error))

export interface CaPublic {
  organisation: string
  /** `rescue-ca-ed25519 BASE64 organisation`: what hosts are given with --trust. */
  publicKey: string
  fingerprint: string
}

/** Makes the organisation's CA key in a new 0600 file; refuses to overwrite anything. */
export function initCa(file: string, organisation: string): CaPublic & { file: string } {
  const name = organisation.replace(/\s+/g, ' ').trim()
  if (!name || name.length > 200) {
    throw new UserError(
      'usage',
      'the organisation name must be 1 to 200 characters',
      'pass --organisation NAME',
    )
  }
  const seed = nacl.randomBytes(32)
  const keys = nacl.sign.keyPair.fromSeed(seed)
  const content = `${JSON.stringify({ type: CA_FILE_TYPE, version: 1, organisation: name, seed: encodeBase64(seed) }, null, 2)}\n`
  try {
    // 'wx': fails if the file exists, so an organisation's key is never replaced by accident.
    fs.writeFileSync(file, content, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') {
      throw new UserError(
        'conflict',
        `${file} already exists: rescue never overwrites a CA key`,
        'choose another --out file, or remove that one if you really mean to replace your organisation key',
      )
    }
    throw new UserError(
      'failure',
      `cannot write ${file}: ${reason(error)}`,
      'choose a folder you can write to',
    )
  }
  seed.fill(0)
  return { file, ...caPublic(keys.publicKey, name) }
}

function caPublic(publicKey: Uint8Array, organisation: string): CaPublic {
  return {
    organisation,
    publicKey: formatPublicKey('ca', publicKey, organisation),
    fingerprint: fingerprint(publicKey),
  }
}

interface LoadedCa extends CaPublic {
  secretKey: Uint8Array
  key: Uint8Array
}

/** Reads a CA key file; refuses one that others can read, as OpenSSH does with private keys. */
export function loadCa(file: string): LoadedCa {
  let text: string
  try {
    const stat = fs.statSync(file)
    if (stat.size > MAX_FILE_BYTES) throw new Error('too large to be a CA key')
    if ((stat.mode & 0o077) !== 0) {
      throw new UserError(
        'failure',
        `${file} can be read by other users: a CA key must be private`,
        `run chmod 600 ${file}`,
      )
    }
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    if (error instanceof UserError) throw error
    throw new UserError('failure', `cannot read the CA key ${file}: ${reason(error)}`, 'check the --ca path')
  }
  let parsed: z.infer<typeof caFile>
  try {
    parsed = caFile.parse(JSON.parse(text))
  } catch {
    throw new UserError('usage', `${file} is not a rescue CA key`, 'give the file rescue admin ca init wrote')
  }
  const seed = decodeBase64(parsed.seed)
  if (!seed || seed.length !== 32) {
    throw new UserError('usage', `${file} is not a rescue CA key`, 'give the file rescue admin ca init wrote')
  }
  const keys = nacl.sign.keyPair.fromSeed(seed)
  return { ...caPublic(keys.publicKey, parsed.organisation), secretKey: keys.secretKey, key: keys.publicKey }
}

export interface SignOptions {
  caFile: string
  email: string
  /** The device key line the technician sees with `rescue device`. */
  deviceKey: string
  ttlMs: number
  now?: Date
}

export interface SignedCertificate {
  /** `rescue-cert-v1 BASE64 email`: what the technician installs. */
  certificate: string
  email: string
  organisation: string
  deviceFingerprint: string
  caFingerprint: string
  validFrom: string
  validUntil: string
}

/** Certifies a technician's device key for `ttlMs` from now, with the organisation's CA key. */
export function signDeviceCertificate(options: SignOptions): SignedCertificate {
  const ca = loadCa(options.caFile)
  const deviceKey = parsePublicKey('device', options.deviceKey, '--key')
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000)
  let bytes: Uint8Array
  try {
    bytes = signCertificate(
      {
        caKey: ca.key,
        deviceKey,
        serial: newSerial(),
        notBefore: now,
        notAfter: now + Math.ceil(options.ttlMs / 1000),
        email: options.email.trim(),
        organisation: ca.organisation,
      },
      ca.secretKey,
    )
  } catch (error) {
    const why = error instanceof CertificateError ? error.message : reason(error)
    throw new UserError('usage', `cannot certify that key: ${why}`, 'check --email and --ttl')
  } finally {
    ca.secretKey.fill(0)
  }
  return describeCertificate(parseCertificateLine(formatCertificate(bytes)))
}

function describeCertificate(certificate: Certificate): SignedCertificate {
  return {
    certificate: formatCertificate(certificate.bytes),
    email: certificate.email,
    organisation: certificate.organisation,
    deviceFingerprint: fingerprint(certificate.deviceKey),
    caFingerprint: fingerprint(certificate.caKey),
    validFrom: new Date(certificate.notBefore * 1000).toISOString(),
    validUntil: new Date(certificate.notAfter * 1000).toISOString(),
  }
}

/** The organisation keys a host trusts: `--trust KEY` lines and the lines of `--trust-file` files. */
export function readTrustAnchors(options: {
  keys?: readonly string[]
  files?: readonly string[]
}): TrustAnchor[] {
  const anchors = (options.keys ?? []).map((key) => ({ publicKey: parsePublicKey('ca', key, '--trust') }))
  for (const file of options.files ?? []) {
    let text: string
    try {
      if (fs.statSync(file).size > MAX_FILE_BYTES) throw new Error('too large')
      text = fs.readFileSync(file, 'utf8')
    } catch (error) {
      throw new UserError('usage', `cannot read --trust-file ${file}: ${reason(error)}`, 'check the path')
    }
    // One key a line, as in authorized_keys; blank lines and # comments are skipped.
    const lines = text.split('\n').filter((line) => line.trim() && !line.trim().startsWith('#'))
    if (lines.length === 0)
      throw new UserError('usage', `--trust-file ${file} holds no key`, 'put the organisation key in it')
    for (const line of lines) anchors.push({ publicKey: parsePublicKey('ca', line, `a line of ${file}`) })
  }
  return anchors
}

export interface DeviceKey {
  publicKey: Uint8Array
  /** `rescue-device-ed25519 BASE64 comment`: what the admin certifies. */
  line: string
  fingerprint: string
  /** Where the private part is kept. */
  store: Exclude<TokenSource, 'environment'>
  created: boolean
}

/** This machine's device key, made (and saved in the keychain, or a 0600 file) on first use. */
export function ensureDeviceKey(comment?: string): DeviceKey {
  const found = loadDeviceSeed()
  let seed = found?.seed
  let store = found?.source
  const created = !seed
  if (!seed || !store) {
    seed = nacl.randomBytes(32)
    store = saveSecret(DEVICE_KEY_NAME, encodeBase64(seed))
  }
  const { publicKey } = nacl.sign.keyPair.fromSeed(seed)
  seed.fill(0)
  return {
    publicKey,
    line: formatPublicKey('device', publicKey, comment),
    fingerprint: fingerprint(publicKey),
    store,
    created,
  }
}

function loadDeviceSeed() {
  const found = findSecret(DEVICE_KEY_NAME)
  const seed = found && decodeBase64(found.secret)
  return found && seed?.length === 32 ? { seed, source: found.source } : undefined
}

const certificatePath = () => path.join(configDir(), 'device-cert')

export interface InstalledCertificate extends SignedCertificate {
  file: string
  expired: boolean
}

/**
 * Checks a certificate line against this machine's device key and installs it (0600, in the
 * config folder); refuses one for another key, or already expired.
 */
export function installCertificate(text: string, now = new Date()): InstalledCertificate {
  let certificate: Certificate
  try {
    certificate = parseCertificateLine(text.trim().split('\n')[0] ?? '')
  } catch (error) {
    const why = error instanceof CertificateError ? error.message : reason(error)
    throw new UserError(
      'usage',
      `that is not a rescue device certificate (${why})`,
      'give the line rescue admin ca sign printed, starting with rescue-cert-v1',
    )
  }
  const device = ensureDeviceKey()
  if (!sameBytes(device.publicKey, certificate.deviceKey)) {
    throw new UserError(
      'usage',
      `this certificate is for the device key ${fingerprint(certificate.deviceKey)}, not this machine's (${device.fingerprint})`,
      'ask your admin to sign the key rescue device shows on this machine',
    )
  }
  const described = describeCertificate(certificate)
  if (Date.parse(described.validUntil) <= now.getTime()) {
    throw new UserError(
      'usage',
      `this certificate expired on ${described.validUntil}`,
      'ask your admin for a new one (rescue admin ca sign)',
    )
  }
  const file = certificatePath()
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const temporary = `${file}.${process.pid}.tmp`
  fs.writeFileSync(temporary, `${described.certificate}\n`, { mode: 0o600 })
  fs.renameSync(temporary, file)
  return { ...described, file, expired: false }
}

/** The installed certificate, if any, read back without trusting the file. */
export function loadCertificate(now = new Date()): InstalledCertificate | undefined {
  const file = certificatePath()
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  try {
    const described = describeCertificate(parseCertificateLine(text.trim()))
    return { ...described, file, expired: Date.parse(described.validUntil) <= now.getTime() }
  } catch {
    return undefined
  }
}

/**
 * What `rescue connect` presents: the installed certificate and the device key it certifies, or
 * nothing when either is missing or they do not match (the host then decides without a proof).
 */
export function loadDeviceCredential(): DeviceCredential | undefined {
  // The certificate first: without one, the keychain (a native addon) is never loaded.
  const installed = loadCertificate()
  if (!installed) return undefined
  const found = loadDeviceSeed()
  if (!found) return undefined
  const { publicKey } = nacl.sign.keyPair.fromSeed(found.seed)
  if (fingerprint(publicKey) !== installed.deviceFingerprint) return undefined
  return deviceCredentialFrom(found.seed, installed.certificate)
}

/** The admin command that certifies this device, for the technician to pass on. */
export function signCommandFor(device: DeviceKey, email: string | undefined): string {
  const who = email ? sanitizeForTerminal(email, 254) : 'EMAIL'
  return `rescue admin ca sign --ca CA_FILE --email ${who} --key '${formatPublicKey('device', device.publicKey)}'`
}
