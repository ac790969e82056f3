/**
 * The gateway's secret key: 32 random bytes in `secret.key` beside the database (0600), made on
 * first use, or RESCUE_SECRET_KEY (base64) for gateways that share one PostgreSQL database. Kept
 * out of the database so a copy of the database alone does not reveal what the key seals (TOTP
 * secrets); the database keeps only its fingerprint, so a gateway with another key stops at once.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { Kysely } from 'kysely'
import { UserError } from '../errors.js'
import { makeDirectory } from '../paths.js'
import type { Database } from './schema.js'

export const SECRET_KEY_FILE = 'secret.key'
const KEY_BYTES = 32
const KEY_NAME = 'secret.key'

export function loadSecretKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env.RESCUE_SECRET_KEY
  if (fromEnv) return checkLength(Buffer.from(fromEnv.trim(), 'base64'), 'RESCUE_SECRET_KEY')
  const file = path.join(dataDir, SECRET_KEY_FILE)
  if (!fs.existsSync(file)) {
    // Written whole under a temporary name, then linked: link fails when the file exists, so two
    // processes starting at once keep the first key and never read a half-written one.
    const temporary = `${file}.${process.pid}.tmp`
    try {
      makeDirectory(dataDir, 0o700)
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
  return checkLength(key, file)
}

/**
 * Records the key's fingerprint the first time, and after that refuses a key that differs: with
 * many gateways over one database, each must have the first one's key.
 */
export async function checkSecretKeyMatches(db: Kysely<Database>, key: Buffer): Promise<void> {
  const fingerprint = createHash('sha256').update(key).digest('hex')
  await db
    .insertInto('store_keys')
    .values({ name: KEY_NAME, fingerprint, created_at: new Date().toISOString() })
    .onConflict((conflict) => conflict.column('name').doNothing())
    .execute()
  const row = await db
    .selectFrom('store_keys')
    .select('fingerprint')
    .where('name', '=', KEY_NAME)
    .executeTakeFirstOrThrow()
  if (row.fingerprint !== fingerprint) {
    throw new UserError(
      'usage',
      "this gateway's secret key is not the one the database was set up with",
      `copy ${SECRET_KEY_FILE} from the data folder of the first gateway on this database (or set RESCUE_SECRET_KEY to its contents)`,
    )
  }
}

function checkLength(key: Buffer, source: string): Buffer {
  if (key.length !== KEY_BYTES) {
    throw new UserError(
      'usage',
      `${source} is not a rescue secret key (32 bytes, base64)`,
      'restore it from a backup; without it, users with TOTP must enrol again (rescue admin users reset-password --reset-2fa)',
    )
  }
  return key
}

function cannotRead(file: string, error: unknown): UserError {
  return new UserError('usage', `cannot use the secret key ${file}: ${(error as Error).message}`)
}
