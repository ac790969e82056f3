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
  // Once running, a database that went away is the service being unavailable, said plainly (a
  // client of many gateways then tries another), not an internal error with a stack trace.
  const watched = new WeakSet<pg.PoolClient>()
  const guarded = {
    connect: async () => {
      let client: pg.PoolClient
      try {
        client = await pool.connect()
      } catch (error) {
        throw databaseUnavailable(error)
      }
      // A client taken from the pool has no error listener of the pool's: a connection that breaks
      // between two of its queries would otherwise throw out of the process. The broken client
      // fails its next query and the pool drops it on release.
      if (!watched.has(client)) {
        watched.add(client)
        client.on('error', () => {})
      }
      return client
    },
    end: () => pool.end(),
  }
  return new PostgresDialect({ pool: guarded })
}

/** What a gateway says while its database cannot be reached. */
export function databaseUnavailable(cause: unknown): UserError {
  const error = new UserError(
    'gatewayUnreachable',
    'the gateway cannot reach its database, so it takes no new sessions for now',
    'sessions in progress go on; try again shortly (or another gateway of the service)',
  )
  error.cause = cause
  return error
}
