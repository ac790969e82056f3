import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createPin, initOrganisation, login, authenticate } from '../accounts/index.js'
import { UserError } from '../errors.js'
import { DATABASE_FILE } from './sqlite.js'
import { openStore, type Store } from './index.js'

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

  it('is private to its owner: a 0700 directory and a 0600 database file', async () => {
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-store-')), 'nested', 'data')
    dirs.push(path.dirname(path.dirname(dataDir)))
    stores.push(await openStore({ dataDir }))
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700)
    expect(fs.statSync(path.join(dataDir, DATABASE_FILE)).mode & 0o777).toBe(0o600)
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
