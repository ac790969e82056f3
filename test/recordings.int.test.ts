/**
 * The gateway's side of recordings, on a real gateway and store: it takes only sealed uploads for
 * the caller's own sessions, sealed to the current key, never changes a complete one, and lists
 * and deletes recordings by session and by age (for retention and GDPR).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { api } from '../src/core/client/index.js'
import { UserError } from '../src/core/errors.js'
import { deleteRecordings, listRecordings } from '../src/core/gateway/recordings.js'
import { newId } from '../src/core/ids.js'
import { generateRecordingKey, openRecording, sealRecording } from '../src/core/recordings/seal.js'
import { ADMIN, startTestGateway, type TestGateway } from './helpers/gateway.js'

let gw: TestGateway
let key: ReturnType<typeof generateRecordingKey>

beforeEach(async () => {
  gw = await startTestGateway()
  key = generateRecordingKey()
  await api.admin.setRecordingKey(gw.url, gw.token, key.publicKey)
})
afterEach(() => gw?.close())

async function session(createdAt = new Date().toISOString()): Promise<string> {
  const admin = await gw.store.findUserByEmail(ADMIN.email)
  const id = newId()
  await gw.store.db
    .insertInto('sessions')
    .values({
      id,
      pin_id: null,
      technician_id: admin!.id,
      created_at: createdAt,
      paired_at: createdAt,
      ended_at: null,
      ended_by: null,
      end_reason: null,
      host_address: null,
      technician_address: null,
      channel_id: null,
      taken_by: null,
    })
    .execute()
  return id
}

const upload = (id: string, sessionId: string, text: string, complete: boolean, publicKey = key.publicKey) =>
  api.recordings.upload(gw.url, gw.token, id, {
    sessionId,
    channel: 0,
    kind: 'shell',
    complete,
    data: sealRecording(Buffer.from(text), publicKey, `${id}\n${sessionId}`).toString('base64'),
  })

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a refusal')
    },
    (error: unknown) => error as UserError,
  )

describe('recording uploads', () => {
  it('keeps the last upload sealed, and nothing in clear', async () => {
    const sessionId = await session()
    const id = newId()
    await upload(id, sessionId, 'first part', false)
    await upload(id, sessionId, 'first part, then the rest', true)
    const got = await api.recordings.get(gw.url, gw.token, id)
    expect(got).toMatchObject({ id, sessionId, complete: true, technician: ADMIN.email })
    expect(Buffer.from(got.data, 'base64').includes('the rest')).toBe(false)
    expect(openRecording(Buffer.from(got.data, 'base64'), key, `${id}\n${sessionId}`).toString()).toBe(
      'first part, then the rest',
    )
    expect((await refusal(upload(id, sessionId, 'rewritten', true))).message).toMatch(/complete/)
  })

  it('refuses a malformed upload, another key, and a session that is not the caller’s', async () => {
    const sessionId = await session()
    const bad = await refusal(
      api.recordings.upload(gw.url, gw.token, newId(), {
        sessionId,
        channel: 0,
        kind: 'shell',
        complete: true,
        data: Buffer.from('not sealed at all').toString('base64'),
      }),
    )
    expect(bad.message).toMatch(/not a sealed recording/)
    const other = await refusal(upload(newId(), sessionId, 'x', true, generateRecordingKey().publicKey))
    expect(other.message).toMatch(/current recording key/)
    const stranger = await refusal(upload(newId(), newId(), 'x', true))
    expect(stranger.code).toBe('forbidden')
    expect(await listRecordings(gw.store)).toEqual([])
  })
})

describe('listRecordings and deleteRecordings (retention, GDPR)', () => {
  it('list and delete by session and by age', async () => {
    const [a, b] = [await session(), await session()]
    await upload(newId(), a, 'a', true)
    await upload(newId(), b, 'b', true)
    expect((await listRecordings(gw.store, { sessionId: a })).map((r) => r.sessionId)).toEqual([a])
    const deleted = await deleteRecordings(gw.store, { sessionId: a })
    expect(deleted.map((r) => r.sessionId)).toEqual([a])
    expect(await deleteRecordings(gw.store, { startedBefore: '2000-01-01T00:00:00.000Z' })).toEqual([])
    const later = new Date(Date.now() + 60_000).toISOString()
    expect((await deleteRecordings(gw.store, { startedBefore: later })).map((r) => r.sessionId)).toEqual([b])
    expect(await listRecordings(gw.store)).toEqual([])
  })
})
