import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Kysely, Migrator } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { createPin, effectivePolicy, initOrganisation, login, authenticate } from '../accounts/index.js'
import { hashPassword } from '../accounts/password.js'
import { permissions } from '../consent/types.js'
import { UserError } from '../errors.js'
import { migrationProvider } from './migrations.js'
import { SECRET_KEY_FILE } from './secret-key.js'
import { DATABASE_FILE, sqliteDialect } from './sqlite.js'
import { openStore, type Database, type Store } from './index.js'

const dirs: string[] = []
const stores: Store[] = []
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()))
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

async function freshStore(dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-store-'))) {
  dirs.push(dataDir)
  const store = await openStore({ dataDir })
  stores.push(store)
  return { store, dataDir }
}

describe('the embedded store', () => {
  it('keeps its data across restarts and re-running migrations changes nothing', async () => {
    const { store, dataDir } = await freshStore()
    await initOrganisation(store, { email: 'Admin@Example.com', password: 'correct horse' })
    await store.close()
    stores.pop()
    const reopened = (await freshStore(dataDir)).store
    const admin = await reopened.findUserByEmail('admin@example.com')
    expect(admin).toMatchObject({
      email: 'admin@example.com',
      name: 'admin',
      organisation_name: 'example.com',
      is_admin: 1,
    })
    expect(admin?.password_hash).not.toContain('correct horse')
  })

  it('is private to its owner: a 0700 directory, a 0600 database file and a 0600 secret key', async () => {
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-store-')), 'nested', 'data')
    dirs.push(path.dirname(path.dirname(dataDir)))
    const store = await openStore({ dataDir })
    stores.push(store)
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700)
    expect(fs.statSync(path.join(dataDir, DATABASE_FILE)).mode & 0o777).toBe(0o600)
    expect(fs.statSync(path.join(dataDir, SECRET_KEY_FILE)).mode & 0o777).toBe(0o600)
    // The same key on every opening: what it sealed stays readable.
    const again = await openStore({ dataDir })
    stores.push(again)
    expect(again.secretKey.equals(store.secretKey)).toBe(true)
    expect(store.secretKey).toHaveLength(32)
  })

  it('puts the admins of a data directory made before groups into an "admins" group allowing everything', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-store-'))
    dirs.push(dataDir)
    const old = new Kysely<Database>({ dialect: sqliteDialect(dataDir) })
    const migrated = await new Migrator({ db: old, provider: migrationProvider }).migrateTo(
      '0002-session-events',
    )
    expect(migrated.error).toBeUndefined()
    const { hash, salt } = await hashPassword('correct horse')
    const user = (id: string, email: string, isAdmin: number) =>
      old
        .insertInto('users')
        .values({
          id,
          organisation_id: 'org',
          email,
          name: email,
          password_hash: hash,
          password_salt: salt,
          is_admin: isAdmin,
          created_at: '2025-01-01T00:00:00.000Z',
        } as never)
        .execute()
    await old
      .insertInto('organisations')
      .values({ id: 'org', name: 'Acme', created_at: '2025-01-01T00:00:00.000Z' })
      .execute()
    await user('admin', 'admin@acme.example', 1)
    await user('tech', 'tech@acme.example', 0)
    await old.destroy()

    const { store } = await freshStore(dataDir)
    const admin = (await store.findUserByEmail('admin@acme.example'))!
    expect(admin.role).toBe('master')
    // The password's age counts from the upgrade: no forced change at the next login.
    expect(Date.now() - Date.parse(admin.password_changed_at!)).toBeLessThan(60_000)
    expect(await login(store, 'admin@acme.example', 'correct horse')).toHaveProperty('token')
    expect(await effectivePolicy(store, 'admin')).toMatchObject({
      groups: ['admins'],
      permissions: [...permissions],
    })
    expect(await effectivePolicy(store, 'tech')).toMatchObject({ groups: [], permissions: [] })
    expect((await store.findUserByEmail('tech@acme.example'))!.role).toBe('technician')
  })

  it('gives the stored "everything" of an admins group made before files.modify the new permission, and no other group', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-store-'))
    dirs.push(dataDir)
    const old = new Kysely<Database>({ dialect: sqliteDialect(dataDir) })
    const migrated = await new Migrator({ db: old, provider: migrationProvider }).migrateTo(
      '0005-session-queues',
    )
    expect(migrated.error).toBeUndefined()
    await old
      .insertInto('organisations')
      .values({ id: 'org', name: 'Acme', created_at: '2025-01-01T00:00:00.000Z' })
      .execute()
    const before = permissions.filter((name) => name !== 'files.modify')
    for (const [id, name, allow] of [
      ['g1', 'admins', before.join(',')],
      ['g2', 'helpdesk', 'files.browse,files.send'],
    ] as const) {
      await old
        .insertInto('groups')
        .values({
          id,
          organisation_id: 'org',
          name,
          allow,
          deny: '',
          require_2fa: 0,
          ip_allow: '',
          idle_timeout_ms: null,
          created_at: '2025-01-01T00:00:00.000Z',
          updated_at: '2025-01-01T00:00:00.000Z',
        })
        .execute()
    }
    await old.destroy()

    await freshStore(dataDir)
    const after = new Kysely<Database>({ dialect: sqliteDialect(dataDir) })
    const rows = await after.selectFrom('groups').select(['name', 'allow']).orderBy('name').execute()
    await after.destroy()
    expect(rows).toEqual([
      { name: 'admins', allow: [...before, 'files.modify'].join(',') },
      // Browsing no longer changes anything, and a group that could browse is not let change.
      { name: 'helpdesk', allow: 'files.browse,files.send' },
    ])
  })

  it('gives the stored "everything" of an admins group made before rescue present the new permission, and no other group', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-store-'))
    dirs.push(dataDir)
    const old = new Kysely<Database>({ dialect: sqliteDialect(dataDir) })
    const migrated = await new Migrator({ db: old, provider: migrationProvider }).migrateTo(
      '0014-session-tools',
    )
    expect(migrated.error).toBeUndefined()
    await old
      .insertInto('organisations')
      .values({ id: 'org', name: 'Acme', created_at: '2025-01-01T00:00:00.000Z' })
      .execute()
    const before = permissions.filter((name) => name !== 'present')
    for (const [id, name, allow] of [
      ['g1', 'admins', before.join(',')],
      ['g2', 'helpdesk', 'view,control'],
    ] as const) {
      await old
        .insertInto('groups')
        .values({
          id,
          organisation_id: 'org',
          name,
          allow,
          deny: '',
          require_2fa: 0,
          ip_allow: '',
          idle_timeout_ms: null,
          created_at: '2025-01-01T00:00:00.000Z',
          updated_at: '2025-01-01T00:00:00.000Z',
        })
        .execute()
    }
    await old.destroy()

    await freshStore(dataDir)
    const after = new Kysely<Database>({ dialect: sqliteDialect(dataDir) })
    const rows = await after.selectFrom('groups').select(['name', 'allow']).orderBy('name').execute()
    await after.destroy()
    expect(rows).toEqual([
      { name: 'admins', allow: [...before, 'present'].join(',') },
      // Watching the end user's terminal is not being shown the technician's: asked of an admin.
      { name: 'helpdesk', allow: 'view,control' },
    ])
  })

  it('refuses a second organisation on the same data directory', async () => {
    const { store } = await freshStore()
    await initOrganisation(store, { email: 'a@example.com', password: 'correct horse' })
    const again = initOrganisation(store, { email: 'b@example.com', password: 'correct horse' })
    await expect(again).rejects.toMatchObject({ code: 'conflict' })
  })

  it('rejects short passwords and malformed emails before touching the store', async () => {
    const { store } = await freshStore()
    await expect(
      initOrganisation(store, { email: 'a@example.com', password: 'short' }),
    ).rejects.toBeInstanceOf(UserError)
    await expect(
      initOrganisation(store, { email: 'not-an-email', password: 'correct horse' }),
    ).rejects.toMatchObject({
      code: 'usage',
    })
    expect(await store.hasOrganisation()).toBe(false)
  })

  it('issues tokens that authenticate, are stored hashed, and fail on a wrong password', async () => {
    const { store } = await freshStore()
    await initOrganisation(store, { email: 'a@example.com', password: 'correct horse' })
    await expect(login(store, 'a@example.com', 'wrong horse')).rejects.toMatchObject({ code: 'authFailed' })
    await expect(login(store, 'nobody@example.com', 'correct horse')).rejects.toMatchObject({
      code: 'authFailed',
    })
    const { token } = await login(store, ' A@example.com ', 'correct horse')
    expect(Buffer.from(token, 'base64url')).toHaveLength(32)
    expect((await authenticate(store, token, { address: '127.0.0.1' })).email).toBe('a@example.com')
    const rows = await store.db.selectFrom('tokens').select('token_hash').execute()
    expect(rows.map((row) => row.token_hash)).not.toContain(token)
  })

  it('makes PINs that are unique among live ones and can be consumed once', async () => {
    const { store } = await freshStore()
    await initOrganisation(store, { email: 'a@example.com', password: 'correct horse' })
    const user = (await store.findUserByEmail('a@example.com'))!
    const pins = await Promise.all(Array.from({ length: 50 }, () => createPin(store, user.id, 60_000)))
    expect(new Set(pins.map((p) => p.pin)).size).toBe(50)
    for (const { pin } of pins) expect(pin).toMatch(/^\d{6}$/)
    const row = (await store.findNewestPin(pins[0]!.pin))!
    expect(await store.consumePin(row.id, new Date().toISOString())).toBe(true)
    expect(await store.consumePin(row.id, new Date().toISOString())).toBe(false)
    await expect(createPin(store, user.id, 1000)).rejects.toMatchObject({ code: 'usage' })
  })
})
