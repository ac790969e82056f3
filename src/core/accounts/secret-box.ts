/** Seals small secrets at rest (TOTP secrets) with AES-256-GCM under the gateway's secret key. */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { BugError, UserError } from '../errors.js'

const VERSION = 'v1'

/** `v1.<iv>.<tag>.<ciphertext>`, each base64url; `context` (a user id) is bound as associated data. */
export function seal(key: Buffer, plaintext: string, context: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(context, 'utf8'))
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return [VERSION, iv, cipher.getAuthTag(), ciphertext]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.')
}

/** Opens what `seal` made with the same key and context; an error when it was altered or moved. */
export function open(key: Buffer, sealed: string, context: string): string {
  const [version, iv, tag, ciphertext] = sealed.split('.')
  if (version !== VERSION || !iv || !tag || ciphertext === undefined)
    throw new BugError('a sealed secret is damaged')
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
    decipher.setAAD(Buffer.from(context, 'utf8'))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString(
      'utf8',
    )
  } catch {
    // A replaced secret.key, or a row copied between users: the user must enrol again.
    throw new UserError(
      'failure',
      "a sealed secret does not open with this gateway's secret key",
      'an admin can make the user enrol again: rescue admin users reset-password EMAIL --reset-2fa',
    )
  }
}
