/**
 * Recordings sealed to the organisation's recording key, so the gateway stores what it cannot
 * read. The key is an X25519 pair (tweetnacl box); the gateway holds only its public half. Each
 * upload gets a fresh 32-byte data key, sealed to the public key with an ephemeral X25519 pair
 * (nacl.box: tiny, so tweetnacl's speed does not matter), and the recording itself is encrypted
 * with AES-256-GCM under that data key in Node's crypto (OpenSSL speed). The recording's id and
 * session are bound as associated data, so a sealed recording cannot be passed off as another.
 * Imports core only.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import nacl from 'tweetnacl'
import { z } from 'zod'
import { UserError } from '../errors.js'

const MAGIC = 'rescue-sealed-recording-v1'
const KEY_FILE_TYPE = 'rescue-recording-key'

export interface RecordingKeyPair {
  /** base64 of the 32-byte X25519 public key. */
  publicKey: string
  /** base64 of the 32-byte secret key: stays with whoever the admin gives it to. */
  secretKey: string
}

export function generateRecordingKey(): RecordingKeyPair {
  const pair = nacl.box.keyPair()
  return { publicKey: b64(pair.publicKey), secretKey: b64(pair.secretKey) }
}

/** A short name of a public key, shown to admins and checked on every upload. */
export function recordingKeyFingerprint(publicKey: string): string {
  return createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('hex').slice(0, 32)
}

/** Parses a public key given as base64; undefined when it is not 32 bytes. */
export function parsePublicKey(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]{42,44}={0,2}$/.test(text)) return undefined
  const bytes = Buffer.from(text, 'base64')
  return bytes.length === nacl.box.publicKeyLength ? new Uint8Array(bytes) : undefined
}

/** Writes the private key file (0600; never over an existing file). */
export function writeKeyFile(file: string, pair: RecordingKeyPair): void {
  const text = `${JSON.stringify({ type: KEY_FILE_TYPE, ...pair }, null, 2)}\n`
  try {
    fs.writeFileSync(file, text, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'EEXIST')
      throw new UserError('conflict', `${file} exists already`, 'choose another file with -o')
    throw new UserError('failure', `cannot write ${file}: ${(error as Error).message}`)
  }
}

const keyFile = z.object({ type: z.literal(KEY_FILE_TYPE), publicKey: z.string(), secretKey: z.string() })

export function readKeyFile(file: string): RecordingKeyPair {
  let parsed: unknown
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'ENOENT') throw new UserError('usage', `there is no key file ${file}`)
    throw new UserError(
      'usage',
      `${file} is not a recording key file`,
      'use the file rescue admin recordings key init wrote',
    )
  }
  const result = keyFile.safeParse(parsed)
  const secret = result.success ? Buffer.from(result.data.secretKey, 'base64') : undefined
  if (!result.success || secret?.length !== nacl.box.secretKeyLength) {
    throw new UserError(
      'usage',
      `${file} is not a recording key file`,
      'use the file rescue admin recordings key init wrote',
    )
  }
  return result.data
}

const envelope = z.object({
  type: z.literal(MAGIC),
  /** Which public key it was sealed to. */
  key: z.string().max(64),
  epk: z.string().max(64),
  nonce: z.string().max(64),
  sealedKey: z.string().max(128),
  iv: z.string().max(32),
  tag: z.string().max(32),
})
export type SealedHeader = z.infer<typeof envelope>

/** Seals `plaintext` to `publicKey` (base64); `context` (recording id and session) is bound to it. */
export function sealRecording(plaintext: Buffer, publicKey: string, context: string): Buffer {
  const recipient = parsePublicKey(publicKey)
  if (!recipient) throw new UserError('failure', 'the gateway handed out an unusable recording key')
  const dataKey = randomBytes(32)
  const ephemeral = nacl.box.keyPair()
  const nonce = nacl.randomBytes(nacl.box.nonceLength)
  const sealedKey = nacl.box(new Uint8Array(dataKey), nonce, recipient, ephemeral.secretKey)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv)
  cipher.setAAD(Buffer.from(`${MAGIC}\n${context}`))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  const head: SealedHeader = {
    type: MAGIC,
    key: recordingKeyFingerprint(publicKey),
    epk: b64(ephemeral.publicKey),
    nonce: b64(nonce),
    sealedKey: b64(sealedKey),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  }
  return Buffer.concat([Buffer.from(`${JSON.stringify(head)}\n`), body])
}

/** The sealed header of an upload, checked for shape; undefined when it is not one. */
export function sealedHeaderOf(sealed: Buffer): SealedHeader | undefined {
  const end = sealed.indexOf(0x0a)
  if (end <= 0 || end > 1024) return undefined
  try {
    const result = envelope.safeParse(JSON.parse(sealed.subarray(0, end).toString('utf8')))
    return result.success ? result.data : undefined
  } catch {
    return undefined
  }
}

/** Opens a sealed recording; a UserError when the key is not the one it was sealed to, or it was changed. */
export function openRecording(sealed: Buffer, key: RecordingKeyPair, context: string): Buffer {
  const head = sealedHeaderOf(sealed)
  if (!head) throw new UserError('failure', 'not a sealed recording (malformed or truncated)')
  if (head.key !== recordingKeyFingerprint(key.publicKey)) {
    throw new UserError(
      'usage',
      `this recording was sealed to another key (${head.key}), not this key file's (${recordingKeyFingerprint(key.publicKey)})`,
      'use the private key the admin made when this recording was taken',
    )
  }
  const dataKey = nacl.box.open(
    Buffer.from(head.sealedKey, 'base64'),
    Buffer.from(head.nonce, 'base64'),
    Buffer.from(head.epk, 'base64'),
    Buffer.from(key.secretKey, 'base64'),
  )
  if (!dataKey)
    throw new UserError('usage', 'this key cannot open the recording (wrong key, or a damaged recording)')
  try {
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(dataKey), Buffer.from(head.iv, 'base64'))
    decipher.setAAD(Buffer.from(`${MAGIC}\n${context}`))
    decipher.setAuthTag(Buffer.from(head.tag, 'base64'))
    const body = sealed.subarray(sealed.indexOf(0x0a) + 1)
    return Buffer.concat([decipher.update(body), decipher.final()])
  } catch {
    throw new UserError('failure', 'the sealed recording was changed or cut: it does not open')
  }
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64')
}
