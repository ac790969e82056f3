/**
 * Ed25519 keys of the organisation (its certificate authority) and of each technician's device,
 * in the one-line text form people copy between machines (`rescue-ca-ed25519 BASE64 comment`),
 * and their fingerprints (`SHA256:...`, as OpenSSH shows them). Decodes hostile text: strict
 * base64, exact lengths, bounded size.
 */
import crypto from 'node:crypto'
import { UserError } from '../errors.js'
import { sanitizeForTerminal } from '../text/sanitize.js'

export const ED25519_PUBLIC_KEY_LENGTH = 32
export const ED25519_SIGNATURE_LENGTH = 64

export const KeyKind = { ca: 'rescue-ca-ed25519', device: 'rescue-device-ed25519' } as const
export type KeyKind = keyof typeof KeyKind

/** The longest key line accepted: a key, a space and a comment of a sensible length. */
const MAX_KEY_LINE = 512
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** Strict base64: only the canonical encoding of some bytes is accepted. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text) || text.length % 4 !== 0) return undefined
  const bytes = Buffer.from(text, 'base64')
  return bytes.toString('base64') === text ? new Uint8Array(bytes) : undefined
}

export const encodeBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')

/** `SHA256:` and the unpadded base64 of the key's SHA-256, as OpenSSH prints fingerprints. */
export function fingerprint(publicKey: Uint8Array): string {
  const digest = crypto.createHash('sha256').update(publicKey).digest('base64')
  return `SHA256:${digest.replace(/=+$/, '')}`
}

/** One line: `rescue-ca-ed25519 BASE64 comment`. The comment is a label for people, never trusted. */
export function formatPublicKey(kind: KeyKind, publicKey: Uint8Array, comment?: string): string {
  const label = comment?.replace(/\s+/g, ' ').trim()
  return `${KeyKind[kind]} ${encodeBase64(publicKey)}${label ? ` ${label}` : ''}`
}

/**
 * Reads a key line (or, for convenience, its bare base64) of the given kind; throws a usage
 * UserError naming `what` when it is not one.
 */
export function parsePublicKey(kind: KeyKind, text: string, what: string): Uint8Array {
  const wrong = (why: string) =>
    new UserError(
      'usage',
      `${what} is not a ${KeyKind[kind]} key (${why}): "${sanitizeForTerminal(text, 60)}"`,
      `give the whole line, like ${KeyKind[kind]} AAAA... comment`,
    )
  if (text.length > MAX_KEY_LINE) throw wrong(`longer than ${MAX_KEY_LINE} characters`)
  const fields = text.trim().split(/\s+/)
  const encoded = fields[0] === KeyKind[kind] ? fields[1] : fields.length === 1 ? fields[0] : undefined
  if (encoded === undefined) throw wrong(`it does not start with ${KeyKind[kind]}`)
  const key = decodeBase64(encoded)
  if (!key || key.length !== ED25519_PUBLIC_KEY_LENGTH) throw wrong('not 32 bytes of base64')
  return key
}

/** The comment after the key on its line, if any (a label such as the organisation's name). */
export function keyComment(text: string): string | undefined {
  const comment = text.trim().split(/\s+/).slice(2).join(' ')
  return comment ? sanitizeForTerminal(comment, 100) : undefined
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b)
}
