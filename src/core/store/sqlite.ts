/** The embedded dialect: one SQLite file in the gateway's data directory, in WAL mode. */
import fs from 'node:fs'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import { SqliteDialect, type Dialect } from 'kysely'
import { UserError } from '../errors.js'
import { makeDirectory } from '../paths.js'

export const DATABASE_FILE = 'rescue.db'

function openDatabase(dataDir: string): SQLite.Database {
  const file = path.join(dataDir, DATABASE_FILE)
  try {
    // 0700: the database holds password hashes and session logs (DESIGN.md: nothing readable by others).
    makeDirectory(dataDir, 0o700)
    const database = new SQLite(file)
    fs.chmodSync(file, 0o600)
    return database
  } catch (error) {
    throw new UserError(
      'usage',
      `cannot open the database ${file}: ${(error as Error).message}`,
      'give a writable directory with --data',
    )
  }
}

export function sqliteDialect(dataDir: string): Dialect {
  const database = openDatabase(dataDir)
  // WAL lets `rescue admin` write while a running gateway reads; busy_timeout waits instead of failing.
  database.pragma('journal_mode = WAL')
  database.pragma('busy_timeout = 5000')
  database.pragma('foreign_keys = ON')
  return new SqliteDialect({ database })
}
