/** The embedded dialect: one SQLite file in the gateway's data directory, in WAL mode. */
import fs from 'node:fs'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import { SqliteDialect, type CompiledQuery, type Dialect, type QueryResult } from 'kysely'
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
  return embeddedDatabase(dataDir).dialect
}

/** The embedded database: its kysely dialect, and a way to run a compiled query at once. */
export interface EmbeddedDatabase {
  dialect: Dialect
  /**
   * Runs `query` now, as kysely's own SQLite driver would and with the same result, or returns
   * undefined when a transaction is open on the connection (kysely's, between two of its awaits):
   * the query must then wait its turn through kysely, or it would land inside that transaction.
   * better-sqlite3 is synchronous, so kysely's connection lock and promise chain around each
   * query are all that this saves: about half the cost of the pairing's short statements.
   */
  runNow(query: CompiledQuery): QueryResult<unknown> | undefined
  /**
   * Runs `work` now in one transaction (one commit for all its statements, each run with `run`),
   * or returns undefined when a transaction is open already, as `runNow` does. `work` must be
   * synchronous; a throw rolls it back.
   */
  transactionNow<T>(work: (run: (query: CompiledQuery) => QueryResult<unknown>) => T): T | undefined
}

export function embeddedDatabase(dataDir: string): EmbeddedDatabase {
  const database = openDatabase(dataDir)
  // WAL lets `rescue admin` write while a running gateway reads; busy_timeout waits instead of failing.
  database.pragma('journal_mode = WAL')
  database.pragma('busy_timeout = 5000')
  // In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash of the gateway loses
  // nothing, a power cut the last commits at most, and the file stays whole either way (SQLite's
  // own advice for WAL). A pairing commits about ten times; one fsync each cost a third of it.
  database.pragma('synchronous = NORMAL')
  database.pragma('foreign_keys = ON')
  const cached = withStatementCache(database)
  const run = (query: CompiledQuery): QueryResult<unknown> => {
    const statement = cached.prepare(query.sql)
    if (statement.reader) return { rows: statement.all(query.parameters) as unknown[] }
    const { changes } = statement.run(query.parameters)
    return { numAffectedRows: BigInt(changes), rows: [] }
  }
  return {
    dialect: new SqliteDialect({ database: cached }),
    runNow: (query) => (database.inTransaction ? undefined : run(query)),
    transactionNow: (work) => (database.inTransaction ? undefined : database.transaction(() => work(run))()),
  }
}

/** How many prepared statements are kept; the queries are few, a list's `IN (?, ?, …)` aside. */
const STATEMENT_CACHE_SIZE = 256

/**
 * Kysely prepares every query anew, which was a seventh of a busy gateway's CPU (bench/gateways.ts).
 * A prepared statement can run again with other parameters; kysely only runs them to the end
 * (`all`, `run`), never two iterations of one at once, so one per SQL text is enough.
 */
function withStatementCache(database: SQLite.Database) {
  const statements = new Map<string, SQLite.Statement>()
  return {
    close: () => database.close(),
    prepare(sql: string): SQLite.Statement {
      let statement = statements.get(sql)
      if (!statement) {
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear()
        statement = database.prepare(sql)
        statements.set(sql, statement)
      }
      return statement
    },
  }
}
