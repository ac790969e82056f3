/**
 * Encryption at rest for what the session log keeps beyond kinds and times (chat lines, file
 * names and hashes): AES-256-GCM under a key of the gateway's own, so a copy of the database alone
 * does not reveal them. Gateways sharing one PostgreSQL share the key through RESCUE_LOG_KEY.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { UserError } from '../errors.js'

const KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const VERSION = 'v1'
export const LOG_KEY_FILE = 'session-log.key'

export class LogCipher {
  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`a session log key has ${KEY_BYTES} bytes`)
  }

  /** A fresh key, for tests and a gateway without a data folder. */
  static random(): LogCipher {
    return new LogCipher(randomBytes(KEY_BYTES))
  }

  /**
   * RESCUE_LOG_KEY (base64 of 32 bytes) when set; else `<dataDir>/session-log.key`, made 0600 on
   * first use.
   */
  static forDataDir(dataDir: string, env: NodeJS.ProcessEnv = process.env): LogCipher {
    const shared = env.RESCUE_LOG_KEY
    if (shared !== undefined) {
      const key = Buffer.from(shared, 'base64')
      if (key.length !== KEY_BYTES) {
        throw new UserError(
          'usage',
          `RESCUE_LOG_KEY must be ${KEY_BYTES} bytes in base64`,
          'make one with: openssl rand -base64 32',
        )
      }
      return new LogCipher(key)
    }
    const file = path.join(dataDir, LOG_KEY_FILE)
    try {
      fs.writeFileSync(file, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' })
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error
    }
    const key = fs.readFileSync(file)
    if (key.length !== KEY_BYTES) {
      throw new UserError(
        'failure',
        `${file} is not a session log key (${key.length} bytes)`,
        'restore it from a backup',
      )
    }
    return new LogCipher(key)
  }

  /** "v1:" and base64 of IV ‖ tag ‖ ciphertext. `context` (the session id) is bound as associated data. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    cipher.setAAD(Buffer.from(context))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`
  }

  /** The plaintext; throws when the text was not sealed with this key for this context. */
  open(sealed: string, context: string): string {
    const [version, data] = sealed.split(':')
    if (version !== VERSION || data === undefined) throw new Error('not a sealed session log entry')
    const bytes = Buffer.from(data, 'base64')
    const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, IV_BYTES))
    decipher.setAAD(Buffer.from(context))
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
      'utf8',
    )
  }
}
