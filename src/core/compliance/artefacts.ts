/**
 * Session artefacts: what the gateway keeps per session beside its log. Reports list them, and
 * retention and GDPR erase them with the session. The session log itself (sessions and their
 * events) is handled by the store; anything else kept per session registers here.
 *
 * RECORDINGS PLUG IN HERE: the recordings table (migration 0012-recordings) gets one entry in
 * SESSION_ARTEFACTS, built on its list/delete-by-session-and-age functions, e.g.
 *   { kind: 'recording', list: listRecordingsOf, deleteForSessions: deleteRecordingsOf, deleteEndedBefore: ... }
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

/** Every kind of artefact the gateway keeps; recordings join here (see the header). */
export const SESSION_ARTEFACTS: readonly SessionArtefacts[] = []

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
