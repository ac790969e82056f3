import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { newId } from '../ids.js'
import { openStore, type SessionEventsTable, type Store } from '../store/index.js'
import { SessionLogWriter } from './session-log.js'

const dirs: string[] = []
const stores: Store[] = []
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()))
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

async function storeWithSession(): Promise<{ store: Store; sessionId: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-session-log-'))
  dirs.push(dataDir)
  const store = await openStore({ dataDir })
  stores.push(store)
  const sessionId = newId()
  await store.insertSession({
    id: sessionId,
    pin_id: null,
    technician_id: null,
    channel_id: null,
    taken_by: null,
    created_at: new Date().toISOString(),
    paired_at: null,
    ended_at: null,
    ended_by: null,
    end_reason: null,
    host_address: null,
    technician_address: null,
    gateway_id: null,
  })
  return { store, sessionId }
}

const row = (sessionId: string, seq: number, event = 'consent-decision'): SessionEventsTable => ({
  id: newId(),
  session_id: sessionId,
  seq,
  at: new Date().toISOString(),
  source: 'host',
  event,
  kind: 'files.send',
  allowed: 1,
  detail: null,
})

describe('the session log writer', () => {
  it('stores every row handed in during a turn, more than one statement holds, in order of seq', async () => {
    const { store, sessionId } = await storeWithSession()
    const errors: unknown[] = []
    const writer = new SessionLogWriter(store, (error) => errors.push(error))
    const written = Array.from({ length: 250 }, (_, i) => writer.add(row(sessionId, i + 1)))
    await Promise.all(written)

    const events = await store.listSessionEvents(sessionId)
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1))
    expect(errors).toEqual([])
  })

  it('keeps the other rows of a turn when one cannot be stored, and says why that one was not', async () => {
    const { store, sessionId } = await storeWithSession()
    const errors: unknown[] = []
    const writer = new SessionLogWriter(store, (error) => errors.push(error))
    void writer.add(row(sessionId, 1))
    void writer.add(row('no-such-session', 1))
    await writer.add(row(sessionId, 2, 'file-transfer'))

    const events = await store.listSessionEvents(sessionId)
    expect(events.map((event) => [event.seq, event.event])).toEqual([
      [1, 'consent-decision'],
      [2, 'file-transfer'],
    ])
    expect(errors).toHaveLength(1)
  })

  it('writes what is queued when flushed, before the turn ends (the gateway shutting down)', async () => {
    const { store, sessionId } = await storeWithSession()
    const writer = new SessionLogWriter(store, () => {})
    void writer.add(row(sessionId, 1))
    await writer.flush()
    expect(await store.listSessionEvents(sessionId)).toHaveLength(1)
  })
})
