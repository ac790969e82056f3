/**
 * The PostgreSQL dialect, for many gateways over one database: the same migrations and queries as
 * SQLite (schema.ts keeps to types both share). The URL may hold a password, so it is never
 * printed whole: `redactUrl` is what errors show.
 */
import { PostgresDialect, type Dialect } from 'kysely'
import pg from 'pg'
import { UserError } from '../errors.js'

/** True for a `postgres://` or `postgresql://` URL: the store to use instead of the embedded one. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url)
}

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'the database URL (unreadable)'
  }
}

/** A pool that has answered one query, so a wrong URL fails here with a clear message. */
export async function postgresDialect(url: string): Promise<Dialect> {
  // COUNT and BIGINT come back as strings by default; every count here fits a JS number.
  pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value))
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000 })
  // An idle client that loses its server must not crash the gateway: the next query reconnects.
  pool.on('error', () => {})
  try {
    await pool.query('SELECT 1')
  } catch (error) {
    await pool.end().catch(() => {})
    throw new UserError(
      'usage',
      `cannot reach the database ${redactUrl(url)}: ${(error as Error).message}`,
      'check --database (or RESCUE_DATABASE_URL): host, port, database name, user and password',
    )
  }
  return new PostgresDialect({ pool })
}
