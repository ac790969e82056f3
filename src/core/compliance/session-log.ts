/**
 * The session log read back: each event of a session with its sealed detail opened by the
 * gateway's LogCipher, and the shapes reports, exports and webhooks share.
 */
import type { LogCipher } from '../gateway/log-cipher.js'
import type { SessionEventRow } from '../store/index.js'

/** One event of the session log, its detail opened. */
export interface LogEvent {
  seq: number
  at: string
  /** Which side reported it: host, technician, or gateway (a refusal by the group policy). */
  source: string
  event: string
  kind: string
  allowed?: boolean
  /** The sealed part (a chat line, a file's name and hash), opened; `{ unreadable: true }` when the key does not open it. */
  detail?: Record<string, unknown>
}

export interface FileRecord {
  at: string
  direction: string
  path: string
  bytes: number
  sha256: string
  complete: boolean
}

export interface ChatLine {
  at: string
  /** host (the end user) or technician. */
  from: string
  text: string
}

/** Opens every event's detail; one that does not open is marked, not fatal. */
export function openEvents(rows: SessionEventRow[], cipher: LogCipher): LogEvent[] {
  return rows.map((row) => {
    let detail: Record<string, unknown> | undefined
    if (row.detail !== null) {
      try {
        detail = JSON.parse(cipher.open(row.detail, row.session_id)) as Record<string, unknown>
      } catch {
        detail = { unreadable: true }
      }
    }
    return {
      seq: row.seq,
      at: row.at,
      source: row.source,
      event: row.event,
      kind: row.kind,
      ...(row.allowed === null ? {} : { allowed: row.allowed === 1 }),
      ...(detail ? { detail } : {}),
    }
  })
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '')

/** The files that crossed, as the technician's side reported them. */
export function filesOf(events: LogEvent[]): FileRecord[] {
  return events
    .filter((event) => event.event === 'file-transfer')
    .map((event) => ({
      at: event.at,
      direction: event.kind,
      path: text(event.detail?.path),
      bytes: typeof event.detail?.bytes === 'number' ? event.detail.bytes : 0,
      sha256: text(event.detail?.sha256),
      complete: event.detail?.complete === true,
    }))
}

/** The chat transcript, oldest first. */
export function chatOf(events: LogEvent[]): ChatLine[] {
  return events
    .filter((event) => event.event === 'chat')
    .map((event) => ({ at: event.at, from: event.kind, text: text(event.detail?.text) }))
}

/** What was allowed and denied (consent decisions and the group policy's refusals), each name once. */
export function decisionsOf(events: LogEvent[]): { allowed: string[]; denied: string[] } {
  const allowed = new Set<string>()
  const denied = new Set<string>()
  for (const event of events) {
    if (event.event !== 'consent-decision' || event.allowed === undefined) continue
    ;(event.allowed ? allowed : denied).add(event.kind)
  }
  return { allowed: [...allowed].sort(), denied: [...denied].sort() }
}

/** The end user's computer name, when they chose to send it (`host-name` reports). */
export function hostNameOf(events: LogEvent[]): string | undefined {
  // The host's own word only: a technician's side cannot name the end user's computer.
  const event = events.find((candidate) => candidate.event === 'host-name' && candidate.source === 'host')
  const name = text(event?.detail?.name)
  return name || undefined
}
