/**
 * Session artefacts: what the gateway keeps per session beside its log. Reports list them, and
 * retention and GDPR erase them with the session. The session log itself (sessions and their
 * events) is handled by the store; anything else kept per session registers here.
 * Recordings (docs/recordings.md) are the one kind today: sealed to the organisation's key, so a
 * report shows their size and channel, never their content.
 */
import type { Store } from '../store/index.js'

/** One thing kept for a session, as reports and GDPR exports show it (never its content). */
export interface ArtefactSummary {
  kind: string
  id: string
  sessionId: string
  createdAt: string
  bytes?: number
  /** Anything else worth showing (a channel, a checksum), as plain JSON. */
  detail?: Record<string, unknown>
}

export interface SessionArtefacts {
  /** Names the kind in reports and in what an erasure says it erased ("recording"). */
  kind: string
  /** What is kept for these sessions. */
  list(store: Store, sessionIds: string[]): Promise<ArtefactSummary[]>
  /** Erases what is kept for these sessions (GDPR, retention); returns how many it erased. */
  deleteForSessions(store: Store, sessionIds: string[]): Promise<number>
}

/** The sealed recordings of shells and commands (migration 0012-recordings). */
const recordings: SessionArtefacts = {
  kind: 'recording',
  async list(store, sessionIds) {
    const rows = await store.db
      .selectFrom('recordings')
      .select(['id', 'session_id', 'started_at', 'size', 'kind', 'channel', 'complete'])
      .where('session_id', 'in', sessionIds)
      .orderBy('started_at')
      .execute()
    return rows.map((row) => ({
      kind: 'recording',
      id: row.id,
      sessionId: row.session_id,
      createdAt: row.started_at,
      bytes: Number(row.size),
      detail: { channel: Number(row.channel), of: row.kind, complete: Number(row.complete) === 1 },
    }))
  },
  async deleteForSessions(store, sessionIds) {
    const result = await store.db
      .deleteFrom('recordings')
      .where('session_id', 'in', sessionIds)
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  },
}

/** Every kind of artefact the gateway keeps per session. */
export const SESSION_ARTEFACTS: readonly SessionArtefacts[] = [recordings]

/** What every registered kind keeps for these sessions. */
export async function listArtefacts(
  store: Store,
  sessionIds: string[],
  artefacts: readonly SessionArtefacts[] = SESSION_ARTEFACTS,
): Promise<ArtefactSummary[]> {
  if (sessionIds.length === 0) return []
  const lists = await Promise.all(artefacts.map((kind) => kind.list(store, sessionIds)))
  return lists.flat()
}

/** Erases every registered kind's artefacts of these sessions; counts by kind. */
export async function deleteArtefacts(
  store: Store,
  sessionIds: string[],
  artefacts: readonly SessionArtefacts[] = SESSION_ARTEFACTS,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  if (sessionIds.length === 0) return counts
  for (const kind of artefacts) counts[kind.kind] = await kind.deleteForSessions(store, sessionIds)
  return counts
}
