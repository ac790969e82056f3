/**
 * The gateway's secret key: 32 random bytes in `secret.key` beside the database (0600), made on
 * first use. Kept out of the database so a copy of the database alone does not reveal what the
 * key seals (TOTP secrets).
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { UserError } from '../errors.js'

export const SECRET_KEY_FILE = 'secret.key'
const KEY_BYTES = 32

export function loadSecretKey(dataDir: string): Buffer {
  const file = path.join(dataDir, SECRET_KEY_FILE)
  if (!fs.existsSync(file)) {
    // Written whole under a temporary name, then linked: link fails when the file exists, so two
    // processes starting at once keep the first key and never read a half-written one.
    const temporary = `${file}.${process.pid}.tmp`
    try {
      fs.writeFileSync(temporary, randomBytes(KEY_BYTES).toString('base64'), { mode: 0o600 })
      fs.linkSync(temporary, file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotRead(file, error)
    } finally {
      fs.rmSync(temporary, { force: true })
    }
  }
  let key: Buffer
  try {
    key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64')
  } catch (error) {
    throw cannotRead(file, error)
  }
  if (key.length !== KEY_BYTES) {
    throw new UserError(
      'usage',
      `${file} is not a rescue secret key`,
      'restore it from a backup; without it, users with TOTP must enrol again (rescue admin users reset-password --reset-2fa)',
    )
  }
  return key
}

function cannotRead(file: string, error: unknown): UserError {
  return new UserError('usage', `cannot use the secret key ${file}: ${(error as Error).message}`)
}
