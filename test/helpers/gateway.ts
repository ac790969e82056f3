/**
 * A real gateway on 127.0.0.1:0 with an admin logged in, over a real SQLite file in a temp dir, or
 * over a fresh schema of the PostgreSQL test server when RESCUE_TEST_STORE is `postgres` (the
 * `int-pg` test project sets it, to run the same tests on the other dialect).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initOrganisation, login } from '../../src/core/accounts/index.js'
import { api } from '../../src/core/client/index.js'
import { startGateway, type Gateway, type GatewayOptions } from '../../src/core/gateway/index.js'
import { LogCipher } from '../../src/core/gateway/log-cipher.js'
import { openStore, type Store } from '../../src/core/store/index.js'
import { freshPostgresSchema, type TestDatabase } from './postgres.js'

export const ADMIN = {
  email: 'alice@acme.example',
  password: 'correct horse battery',
  name: 'Alice Smith',
  organisation: 'Acme IT',
}

export interface TestGateway {
  gateway: Gateway
  store: Store
  url: string
  token: string
  dataDir: string
  /** What seals the session log's details, to read them back. */
  logCipher: LogCipher
  newPin(): Promise<string>
  close(): Promise<void>
}

export async function startTestGateway(
  options: Partial<Omit<GatewayOptions, 'store'>> = {},
): Promise<TestGateway> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-gw-'))
  const database: TestDatabase | undefined =
    process.env.RESCUE_TEST_STORE === 'postgres' ? await freshPostgresSchema() : undefined
  const store = await openStore({ dataDir, databaseUrl: database?.url })
  await initOrganisation(store, ADMIN)
  const logCipher = LogCipher.forDataDir(dataDir, {})
  const gateway = await startGateway({ store, host: '127.0.0.1', port: 0, logCipher, ...options })
  const { token } = await login(store, ADMIN.email, ADMIN.password)
  return {
    gateway,
    store,
    url: gateway.url,
    token,
    dataDir,
    logCipher,
    newPin: async () => (await api.createPin(gateway.url, token)).pin,
    async close() {
      await gateway.close()
      await store.close()
      await database?.drop()
      fs.rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Resolves when `predicate` holds, checking every 10 ms; fails after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
