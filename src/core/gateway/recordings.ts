/**
 * Recordings at the gateway: the organisation's recording key (its public half only: the admin
 * keeps the private one), uploads of sealed recordings from technicians, and the list and
 * download for whoever holds the key. The gateway checks an upload's shape and which key it was
 * sealed to, and refuses what it cannot keep; it never sees a recording in clear.
 * `listRecordings` and `deleteRecordings` are for reports, retention and GDPR. Imports core only.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import * as accounts from '../accounts/index.js'
import { UserError } from '../errors.js'
import { MAX_RECORDING_BYTES } from '../recordings/cast.js'
import { parsePublicKey, recordingKeyFingerprint, sealedHeaderOf } from '../recordings/seal.js'
import type { Store } from '../store/index.js'

export interface RecordingRouteContext {
  store: Store
  parse: <T>(schema: z.ZodType<T>, body: unknown) => T
  /** The authenticated caller (token, allow-list, idle timeout), or a UserError. */
  principal(request: FastifyRequest): Promise<accounts.Principal>
  actor(request: FastifyRequest): Promise<accounts.Actor>
}

/** A recording as listed: everything but its sealed bytes. */
export interface RecordingSummary {
  id: string
  sessionId: string
  technician: string
  channel: number
  kind: string
  startedAt: string
  updatedAt: string
  complete: boolean
  size: number
  keyFingerprint: string
}

const ID = /^[a-z2-7]{26}$/
const keyBody = z.object({ publicKey: z.string().max(64) })
const uploadBody = z.object({
  sessionId: z.string().regex(/^[a-z0-9]{1,64}$/),
  channel: z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 32),
  kind: z.enum(['shell', 'exec']),
  complete: z.boolean(),
  /** base64 of the sealed recording (recordings/seal.ts). */
  data: z.string().max(Math.ceil((MAX_RECORDING_BYTES + 4096) / 3) * 4),
})
const idParams = z.object({ id: z.string().regex(ID, 'not a recording id') })
const listQuery = z.object({ session: z.string().max(64).optional() })

/** The recordings kept, oldest first; by session and/or started before a time (ISO-8601). */
export async function listRecordings(
  store: Store,
  filter: { id?: string; sessionId?: string; startedBefore?: string; technicianId?: string } = {},
): Promise<RecordingSummary[]> {
  let query = store.db
    .selectFrom('recordings')
    .leftJoin('users', 'users.id', 'recordings.technician_id')
    .select([
      'recordings.id',
      'recordings.session_id',
      'users.email',
      'recordings.channel',
      'recordings.kind',
      'recordings.started_at',
      'recordings.updated_at',
      'recordings.complete',
      'recordings.size',
      'recordings.key_fingerprint',
    ])
  if (filter.id) query = query.where('recordings.id', '=', filter.id)
  if (filter.sessionId) query = query.where('recordings.session_id', '=', filter.sessionId)
  if (filter.startedBefore) query = query.where('recordings.started_at', '<', filter.startedBefore)
  if (filter.technicianId) query = query.where('recordings.technician_id', '=', filter.technicianId)
  const rows = await query.orderBy('recordings.started_at').orderBy('recordings.id').execute()
  return rows.map((row) => ({
    id: row.id,
    sessionId: row.session_id,
    technician: row.email ?? '(deleted)',
    channel: Number(row.channel),
    kind: row.kind,
    startedAt: row.started_at,
    updatedAt: row.updated_at,
    complete: Number(row.complete) === 1,
    size: Number(row.size),
    keyFingerprint: row.key_fingerprint,
  }))
}

/** Deletes the recordings of a session, or those started before a time; resolves with what it deleted. */
export async function deleteRecordings(
  store: Store,
  filter: { sessionId: string } | { startedBefore: string },
): Promise<RecordingSummary[]> {
  const doomed = await listRecordings(store, filter)
  if (doomed.length === 0) return []
  await store.db
    .deleteFrom('recordings')
    .where(
      'id',
      'in',
      doomed.map((recording) => recording.id),
    )
    .execute()
  return doomed
}

/** The organisation's recording key (public half), if an admin set one. */
export async function recordingKey(
  store: Store,
  organisationId: string,
): Promise<{ publicKey: string; fingerprint: string } | undefined> {
  const row = await store.db
    .selectFrom('recording_keys')
    .select(['public_key', 'fingerprint'])
    .where('organisation_id', '=', organisationId)
    .executeTakeFirst()
  return row && { publicKey: row.public_key, fingerprint: row.fingerprint }
}

export function registerRecordingRoutes(app: FastifyInstance, context: RecordingRouteContext): void {
  const { store, parse, principal, actor } = context

  app.put('/v1/admin/recordings/key', async (request) => {
    const caller = await actor(request)
    accounts.requireMaster(caller, "set the organisation's recording key")
    const { publicKey } = parse(keyBody, request.body)
    if (!parsePublicKey(publicKey))
      throw new UserError('usage', 'not a recording public key (32 bytes in base64)')
    const organisationId = caller.user.organisation_id
    const before = await recordingKey(store, organisationId)
    const fingerprint = recordingKeyFingerprint(publicKey)
    const row = {
      public_key: publicKey,
      fingerprint,
      created_at: new Date().toISOString(),
      created_by: caller.name,
    }
    if (before) {
      await store.db
        .updateTable('recording_keys')
        .set(row)
        .where('organisation_id', '=', organisationId)
        .execute()
    } else {
      await store.db
        .insertInto('recording_keys')
        .values({ organisation_id: organisationId, ...row })
        .execute()
    }
    await accounts.recordAudit(store, {
      actor: caller.name,
      action: 'recordings.key',
      target: organisationId,
      ...(before ? { before: { fingerprint: before.fingerprint } } : {}),
      after: { fingerprint },
      ...accounts.at(caller),
    })
    return { fingerprint }
  })

  // What a technician's side needs before a shell: whether to record, and the key to seal to.
  app.get('/v1/recordings/key', async (request) => {
    const { user, policy } = await principal(request)
    const key = await recordingKey(store, user.organisation_id)
    return { mode: policy.recording, ...(key ? key : {}) }
  })

  app.put('/v1/recordings/:id', { bodyLimit: 2 * MAX_RECORDING_BYTES }, async (request) => {
    const { user } = await principal(request)
    const { id } = parse(idParams, request.params)
    const body = parse(uploadBody, request.body)
    const session = await store.findSession(body.sessionId)
    if (!session || (session.technician_id !== user.id && session.taken_by !== user.id)) {
      throw new UserError('forbidden', 'that is not a session of yours')
    }
    const sealed = Buffer.from(body.data, 'base64')
    const head = sealedHeaderOf(sealed)
    if (!head || sealed.length > MAX_RECORDING_BYTES + 4096) {
      throw new UserError('usage', 'the upload is not a sealed recording (malformed, truncated or too large)')
    }
    const key = await recordingKey(store, user.organisation_id)
    if (!key || head.key !== key.fingerprint) {
      throw new UserError(
        'conflict',
        "the recording is not sealed to the organisation's current recording key",
        'the admin changed the key during the session: start a new session',
      )
    }
    const existing = await store.db
      .selectFrom('recordings')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    const now = new Date().toISOString()
    if (existing) {
      if (existing.technician_id !== user.id || existing.session_id !== body.sessionId) {
        throw new UserError('forbidden', 'that recording is not yours')
      }
      if (Number(existing.complete) === 1)
        throw new UserError('conflict', 'that recording is complete: it cannot change')
      await store.db
        .updateTable('recordings')
        .set({
          updated_at: now,
          complete: body.complete ? 1 : 0,
          uploads: Number(existing.uploads) + 1,
          size: sealed.length,
          key_fingerprint: head.key,
          data: body.data,
        })
        .where('id', '=', id)
        .execute()
    } else {
      await store.db
        .insertInto('recordings')
        .values({
          id,
          session_id: body.sessionId,
          organisation_id: user.organisation_id,
          technician_id: user.id,
          channel: body.channel,
          kind: body.kind,
          started_at: now,
          updated_at: now,
          complete: body.complete ? 1 : 0,
          uploads: 1,
          size: sealed.length,
          key_fingerprint: head.key,
          data: body.data,
        })
        .execute()
    }
    return { id, size: sealed.length, complete: body.complete }
  })

  // Masters and admins see every recording; a technician, their own.
  app.get('/v1/recordings', async (request) => {
    const caller = await actor(request)
    const { session } = parse(listQuery, request.query)
    const everyone = caller.role === 'master' || caller.role === 'admin'
    return {
      recordings: await listRecordings(store, {
        ...(session ? { sessionId: session } : {}),
        ...(everyone ? {} : { technicianId: caller.user.id }),
      }),
    }
  })

  app.get('/v1/recordings/:id', async (request) => {
    const caller = await actor(request)
    const { id } = parse(idParams, request.params)
    const row = await store.db
      .selectFrom('recordings')
      .select(['technician_id', 'data'])
      .where('id', '=', id)
      .executeTakeFirst()
    const everyone = caller.role === 'master' || caller.role === 'admin'
    if (!row || (!everyone && row.technician_id !== caller.user.id)) {
      throw new UserError('usage', `there is no recording ${id}`, 'list them with rescue recordings list')
    }
    const [summary] = await listRecordings(store, { id })
    return { ...summary!, data: row.data }
  })
}
