/**
 * PostgreSQL for tests: RESCUE_TEST_PG_URL names a server (`.ci/run` sets it); each test gets a
 * schema of its own, dropped afterwards, so tests never see each other's rows. Without the
 * variable the PostgreSQL tests are skipped, with a message, so a laptop without PostgreSQL passes.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export const TEST_PG_URL = process.env.RESCUE_TEST_PG_URL

export const PG_SKIP_MESSAGE =
  'PostgreSQL tests skipped: set RESCUE_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/test)'

export interface TestDatabase {
  /** A URL whose connections see only this test's schema. */
  url: string
  schema: string
  drop(): Promise<void>
}

/** A fresh, empty schema on the test server. */
export async function freshPostgresSchema(): Promise<TestDatabase> {
  if (!TEST_PG_URL) throw new Error(PG_SKIP_MESSAGE)
  const schema = `rescue_test_${randomBytes(6).toString('hex')}`
  await withClient((client) => client.query(`CREATE SCHEMA ${schema}`))
  const url = new URL(TEST_PG_URL)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return {
    url: url.toString(),
    schema,
    drop: () =>
      withClient((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).then(() => {}),
  }
}

async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_PG_URL })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}
