/**
 * The PostgreSQL store as many gateways use it: several processes' stores over one database, each
 * with the same secret key. Runs only where RESCUE_TEST_PG_URL names a server (`.ci/run` sets it);
 * the gateway's other int tests run on PostgreSQL too, in the `int-pg` project.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { initOrganisation, login } from '../src/core/accounts/index.js'
import { api, openGatewaySocket } from '../src/core/client/index.js'
import { UserError } from '../src/core/errors.js'
import { startGateway, type Gateway } from '../src/core/gateway/index.js'
import { LogCipher } from '../src/core/gateway/log-cipher.js'
import { openStore, type Store } from '../src/core/store/index.js'
import { startHost } from '../src/core/host/index.js'
import { runRemoteCommand } from '../src/core/ssh/technician-client.js'
import { SECRET_KEY_FILE } from '../src/core/store/secret-key.js'
import { startTechnician } from '../src/core/technician/index.js'
import { startCutProxy } from './helpers/cut-proxy.js'
import { freshPostgresSchema, PG_SKIP_MESSAGE, TEST_PG_URL, type TestDatabase } from './helpers/postgres.js'

if (!TEST_PG_URL) console.log(PG_SKIP_MESSAGE)

const ADMIN = { email: 'alice@acme.example', password: 'correct horse battery', name: 'Alice' }
const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function database(): Promise<TestDatabase> {
  const db = await freshPostgresSchema()
  cleanups.push(() => db.drop())
  return db
}

function dataDir(key?: Buffer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-pg-'))
  if (key) fs.writeFileSync(path.join(dir, SECRET_KEY_FILE), key.toString('base64'), { mode: 0o600 })
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function store(url: string, dir: string): Promise<Store> {
  const opened = await openStore({ dataDir: dir, databaseUrl: url })
  cleanups.push(() => opened.close())
  return opened
}

async function gatewayOn(opened: Store, dir: string): Promise<Gateway> {
  const gateway = await startGateway({
    store: opened,
    host: '127.0.0.1',
    port: 0,
    logCipher: LogCipher.forDataDir(dir, {}),
  })
  cleanups.push(() => gateway.close())
  return gateway
}

describe.skipIf(!TEST_PG_URL)('the PostgreSQL store, for many gateways', () => {
  it('migrates once when several gateways start at once, and again changes nothing', async () => {
    const { url } = await database()
    const key = randomBytes(32)
    const stores = await Promise.all([1, 2, 3].map(() => store(url, dataDir(key))))
    const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(
      stores[0]!.db,
    )
    const names = applied.rows.map((row) => row.name)
    expect(names.length).toBeGreaterThanOrEqual(6)
    expect(new Set(names).size).toBe(names.length)
    await store(url, dataDir(key))
    const again = await sql<{ n: number }>`SELECT count(*) AS n FROM kysely_migration`.execute(stores[0]!.db)
    expect(Number(again.rows[0]!.n)).toBe(names.length)
  })

  it('shares accounts between gateways: an admin made on one logs in on another, and PINs are one pool', async () => {
    const { url } = await database()
    const key = randomBytes(32)
    const [dirA, dirB] = [dataDir(key), dataDir(key)]
    const [storeA, storeB] = [await store(url, dirA), await store(url, dirB)]
    await initOrganisation(storeA, ADMIN)
    const [gatewayA, gatewayB] = [await gatewayOn(storeA, dirA), await gatewayOn(storeB, dirB)]

    const reply = await api.login(gatewayB.url, { email: ADMIN.email, password: ADMIN.password })
    if (!('token' in reply)) throw new Error('expected a token')
    // A token issued by one gateway is good on the other.
    const { pin } = await api.createPin(gatewayA.url, reply.token)
    const row = await storeB.db.selectFrom('pins').selectAll().where('pin', '=', pin).executeTakeFirst()
    expect(row?.used_at).toBeNull()
    await api.logout(gatewayA.url, reply.token)
    await expect(api.createPin(gatewayB.url, reply.token)).rejects.toMatchObject({ code: 'notLoggedIn' })
  })

  it('counts failed logins across gateways: 12 guesses at once on two gateways get at most 5 answers', async () => {
    const { url } = await database()
    const key = randomBytes(32)
    const [dirA, dirB] = [dataDir(key), dataDir(key)]
    const [storeA, storeB] = [await store(url, dirA), await store(url, dirB)]
    await initOrganisation(storeA, ADMIN)
    const gateways = [await gatewayOn(storeA, dirA), await gatewayOn(storeB, dirB)]
    const guesses = await Promise.allSettled(
      Array.from({ length: 12 }, (_, index) =>
        api.login(gateways[index % 2]!.url, { email: ADMIN.email, password: `guess number ${index}` }),
      ),
    )
    const codes = guesses.map((result) =>
      result.status === 'rejected' ? (result.reason as UserError).code : 'ok',
    )
    expect(codes).not.toContain('ok')
    expect(codes.filter((code) => code === 'authFailed').length).toBeLessThanOrEqual(5)
    expect(codes.filter((code) => code === 'locked').length).toBeGreaterThanOrEqual(7)
  })

  it('refuses to start a gateway whose secret key is not the database’s, and says what to copy', async () => {
    const { url } = await database()
    await store(url, dataDir(randomBytes(32)))
    const refused = await openStore({ dataDir: dataDir(randomBytes(32)), databaseUrl: url }).catch(
      (error: unknown) => error,
    )
    expect(refused).toBeInstanceOf(UserError)
    expect((refused as UserError).message).toBe(
      "this gateway's secret key is not the one the database was set up with",
    )
    expect((refused as UserError).hint).toContain(SECRET_KEY_FILE)
  })

  it('takes the key from RESCUE_SECRET_KEY instead of a file', async () => {
    const { url } = await database()
    const key = randomBytes(32)
    const first = await store(url, dataDir(key))
    await initOrganisation(first, ADMIN)
    const previous = process.env.RESCUE_SECRET_KEY
    process.env.RESCUE_SECRET_KEY = key.toString('base64')
    cleanups.push(() => {
      if (previous === undefined) delete process.env.RESCUE_SECRET_KEY
      else process.env.RESCUE_SECRET_KEY = previous
    })
    const empty = dataDir()
    const second = await store(url, empty)
    expect(await second.findUserByEmail(ADMIN.email)).toMatchObject({ email: ADMIN.email })
    // Nothing written where the key came from the environment.
    expect(fs.readdirSync(empty)).toEqual([])
  })

  it('names an unreachable database without its password, and leaves nothing open', async () => {
    const url = 'postgres://rescue:hunter2-secret@127.0.0.1:1/rescue'
    const refused = await openStore({ dataDir: dataDir(), databaseUrl: url }).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(UserError)
    expect((refused as UserError).message).toMatch(
      /^cannot reach the database postgres:\/\/rescue:\*\*\*@127\.0\.0\.1:1\/rescue: /,
    )
    expect((refused as UserError).message).not.toContain('hunter2')
  })

  it('a gateway that loses its database takes no new session, says why, and keeps relaying the live one', async () => {
    const db = await database()
    // The gateway reaches PostgreSQL only through a proxy of the test's, which the test cuts.
    const proxy = await startCutProxy(Number(new URL(TEST_PG_URL!).port || 5432))
    cleanups.push(() => proxy.close())
    const throughProxy = new URL(db.url)
    throughProxy.hostname = '127.0.0.1'
    throughProxy.port = String(proxy.port)
    const dir = dataDir(randomBytes(32))
    const opened = await store(throughProxy.toString(), dir)
    await initOrganisation(opened, ADMIN)
    const gateway = await gatewayOn(opened, dir)
    const { token } = await login(opened, ADMIN.email, ADMIN.password)
    const { pin } = await api.createPin(gateway.url, token)
    const host = await startHost({
      server: gateway.url,
      entry: { pin },
      interactive: false,
      confirmWords: false,
      autoApprove: ['exec'],
      trustGateway: true,
      auditFile: path.join(dataDir(), 'audit.jsonl'),
      onEvent: () => {},
    })
    cleanups.push(async () => {
      host.end()
      await host.done
    })
    const technician = await startTechnician({
      server: gateway.url,
      entry: { pin },
      token,
      onEvent: () => {},
    })
    cleanups.push(async () => {
      technician.session.end()
      await technician.session.done
    })
    const echo = async (text: string) => {
      const stdout = new PassThrough()
      const chunks: Buffer[] = []
      stdout.on('data', (chunk: Buffer) => chunks.push(chunk))
      await runRemoteCommand(await technician.ssh, `echo ${text}`, { stdout, stderr: new PassThrough() })
      return Buffer.concat(chunks).toString('utf8')
    }
    expect(await echo('before')).toBe('before\n')

    proxy.cut()
    // New work is refused with the reason, as "unreachable", so a client of many gateways moves on.
    const refused = await api.createPin(gateway.url, token).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(UserError)
    expect(refused).toMatchObject({
      code: 'gatewayUnreachable',
      message: 'the gateway cannot reach its database, so it takes no new sessions for now',
    })
    const joining = await openGatewaySocket(
      { server: gateway.url, role: 'host', entry: { pin: '123456' } },
      (socket) => socket.terminate(),
    ).catch((error: unknown) => error)
    expect(joining).toMatchObject({ code: 'gatewayUnreachable' })
    // The live session goes on: relaying needs no database.
    expect(await echo('during')).toBe('during\n')

    proxy.restore()
    expect((await api.createPin(gateway.url, token)).pin).toMatch(/^\d{6}$/)
    expect(await echo('after')).toBe('after\n')
  })
})

describe('the database URL', () => {
  it('must be a PostgreSQL URL', async () => {
    const refused = await openStore({ dataDir: dataDir(), databaseUrl: 'mysql://x@y/z' }).catch(
      (error: unknown) => error,
    )
    expect(refused).toBeInstanceOf(UserError)
    expect((refused as UserError).message).toBe(
      'the database URL must start with postgres:// or postgresql://',
    )
  })
})
