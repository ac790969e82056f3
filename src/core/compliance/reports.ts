/**
 * Session reports for admins: who helped whom, when, for how long, how it ended, what was allowed
 * and denied, which files crossed (name, size, SHA-256), and what else was kept (recordings); and
 * a session's chat transcript. Masters see every session; an admin, those of the technicians in
 * the groups they administer and of those groups' shared queues.
 */
import { listArtefacts, SESSION_ARTEFACTS, type ArtefactSummary, type SessionArtefacts } from './artefacts.js'
import { toCsv } from './csv.js'
import {
  chatOf,
  decisionsOf,
  filesOf,
  hostNameOf,
  openEvents,
  type ChatLine,
  type FileRecord,
  type LogEvent,
} from './session-log.js'
import { requireAdmin, requireGroupAdmin, type Actor } from '../accounts/roles.js'
import { UserError } from '../errors.js'
import type { LogCipher } from '../gateway/log-cipher.js'
import { ComplianceStore } from '../store/compliance.js'
import type { SessionRow, Store } from '../store/index.js'

const DAY_MS = 86_400_000
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/

/**
 * A report's period from what an admin typed: a date (YYYY-MM-DD, UTC; as --to it includes that
 * whole day) or an ISO date and time. `to` defaults to now, `from` to 30 days before `to`.
 */
export function parseReportRange(
  options: { from?: string; to?: string },
  now = new Date(),
): { from: string; to: string } {
  const parse = (text: string, flag: string, endOfDay: boolean): number => {
    const trimmed = text.trim()
    const ms = Date.parse(DATE_ONLY.test(trimmed) ? `${trimmed}T00:00:00Z` : trimmed)
    if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
      throw new UserError(
        'usage',
        `${flag} "${text}" is not a date`,
        'write it as YYYY-MM-DD or an ISO date and time (2026-03-01T09:00:00Z)',
      )
    }
    return endOfDay && DATE_ONLY.test(trimmed) ? ms + DAY_MS : ms
  }
  const to = options.to === undefined ? now.getTime() : parse(options.to, '--to', true)
  const from = options.from === undefined ? to - 30 * DAY_MS : parse(options.from, '--from', false)
  if (from >= to) {
    throw new UserError(
      'usage',
      `the date range is backwards: --from ${options.from ?? new Date(from).toISOString()} is not before --to ${options.to ?? 'now'}`,
      'give the earlier date as --from',
    )
  }
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() }
}

/** One session as reports show it. */
export interface SessionSummary {
  sessionId: string
  /** The technician's email, or null when the account is gone. */
  technician: string | null
  technicianName: string | null
  /** The group whose shared queue the end user joined; null for a PIN session. */
  queue: string | null
  hostAddress: string | null
  /** The end user's computer name, only when they chose to send it. */
  hostName: string | null
  createdAt: string
  startedAt: string | null
  endedAt: string | null
  durationSeconds: number | null
  endedBy: string | null
  endReason: string | null
  allowed: string[]
  denied: string[]
  files: FileRecord[]
  chatLines: number
  /** What else was kept for the session (recordings), never its content. */
  artefacts: ArtefactSummary[]
}

export interface ReportContext {
  store: Store
  cipher: LogCipher
  artefacts?: readonly SessionArtefacts[]
}

/** Summarises one session from its row and opened events. */
export async function summarise(
  context: ReportContext,
  row: SessionRow,
  events: LogEvent[],
  artefacts: ArtefactSummary[],
): Promise<SessionSummary> {
  const technicianId = row.taken_by ?? row.technician_id
  const technician = technicianId ? await context.store.findUserById(technicianId) : undefined
  const group = row.channel_id
    ? (await context.store.listGroups()).find((candidate) => candidate.id === row.channel_id)
    : undefined
  const start = row.paired_at ?? row.created_at
  const durationSeconds = row.ended_at
    ? Math.max(0, Math.round((Date.parse(row.ended_at) - Date.parse(start)) / 1000))
    : null
  return {
    sessionId: row.id,
    technician: technician?.email ?? null,
    technicianName: technician?.name ?? null,
    queue: group?.name ?? null,
    hostAddress: row.host_address,
    hostName: hostNameOf(events) ?? null,
    createdAt: row.created_at,
    startedAt: row.paired_at,
    endedAt: row.ended_at,
    durationSeconds,
    endedBy: row.ended_by,
    endReason: row.end_reason,
    ...decisionsOf(events),
    files: filesOf(events),
    chatLines: chatOf(events).length,
    artefacts,
  }
}

/** Can `actor` read this session? Masters, or an admin of its technician's groups or of its queue. */
async function mayRead(store: Store, actor: Actor, row: SessionRow): Promise<boolean> {
  if (actor.role === 'master') return true
  const groups = await store.listGroups()
  const channel = groups.find((group) => group.id === row.channel_id)
  if (channel && actor.adminOf.has(channel.name)) return true
  const technicianId = row.taken_by ?? row.technician_id
  if (!technicianId) return false
  const theirs = await store.groupsOfUser(technicianId)
  return theirs.some((group) => actor.adminOf.has(group.name))
}

/** A session the actor may read, or the same "no such session" whether it exists or not. */
export async function readableSession(store: Store, actor: Actor, sessionId: string): Promise<SessionRow> {
  requireAdmin(actor, 'read session logs')
  const row = /^[a-z0-9]{1,64}$/.test(sessionId) ? await store.findSession(sessionId) : undefined
  if (!row || !(await mayRead(store, actor, row))) {
    throw new UserError(
      'usage',
      `no session ${sessionId.slice(0, 64)} in the session log`,
      'list sessions with rescue admin report sessions',
    )
  }
  return row
}

export interface SessionReportOptions {
  from: string
  to: string
  technician?: string
  group?: string
}

/** The sessions created in [from, to), newest first, within what the actor may read. */
export async function reportSessions(
  context: ReportContext,
  actor: Actor,
  options: SessionReportOptions,
): Promise<{ from: string; to: string; sessions: SessionSummary[] }> {
  requireAdmin(actor, 'read session reports')
  const { store } = context
  const from = Date.parse(options.from)
  const to = Date.parse(options.to)
  if (Number.isNaN(from) || Number.isNaN(to))
    throw new UserError('usage', 'a report needs ISO dates for from and to')
  if (from >= to) {
    throw new UserError(
      'usage',
      `the date range is backwards: from ${options.from} is not before to ${options.to}`,
    )
  }
  const filter: { technicianIds?: string[]; channelId?: string } = {}
  if (options.technician !== undefined) {
    const user = await store.findUserByEmail(options.technician.trim().toLowerCase())
    if (!user)
      throw new UserError(
        'usage',
        `no technician ${options.technician.slice(0, 320)}`,
        'list them with rescue admin users list',
      )
    filter.technicianIds = [user.id]
  }
  if (options.group !== undefined) {
    const group = await store.findGroupByName(options.group)
    if (!group)
      throw new UserError(
        'usage',
        `no group ${options.group.slice(0, 63)}`,
        'list them with rescue admin groups list',
      )
    requireGroupAdmin(actor, [group.name], `read the reports of ${group.name}`)
    const members = (await store.membersOfGroup(group.name)).map((user) => user.id)
    const ids = filter.technicianIds ? filter.technicianIds.filter((id) => members.includes(id)) : members
    // A technician outside the group: only the group's queue sessions they took can match.
    filter.technicianIds = ids
    if (!options.technician) filter.channelId = group.id
  }
  const rows = await new ComplianceStore(store).sessions({
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    ...filter,
  })
  const readable: SessionRow[] = []
  for (const row of rows) if (await mayRead(store, actor, row)) readable.push(row)
  const artefacts = await listArtefacts(
    store,
    readable.map((row) => row.id),
    context.artefacts ?? SESSION_ARTEFACTS,
  )
  const sessions: SessionSummary[] = []
  for (const row of readable) {
    const events = openEvents(await store.listSessionEvents(row.id), context.cipher)
    sessions.push(
      await summarise(
        context,
        row,
        events,
        artefacts.filter((artefact) => artefact.sessionId === row.id),
      ),
    )
  }
  return { from: options.from, to: options.to, sessions }
}

/** A session's chat transcript, decrypted from the sealed session log. */
export async function chatTranscript(
  context: ReportContext,
  actor: Actor,
  sessionId: string,
): Promise<{ sessionId: string; lines: ChatLine[] }> {
  const row = await readableSession(context.store, actor, sessionId)
  const events = openEvents(await context.store.listSessionEvents(row.id), context.cipher)
  return { sessionId: row.id, lines: chatOf(events) }
}

const SESSION_COLUMNS = [
  'session',
  'technician',
  'queue',
  'host address',
  'host name',
  'started',
  'ended',
  'duration (s)',
  'ended by',
  'end reason',
  'allowed',
  'denied',
  'files',
  'chat lines',
  'artefacts',
] as const

/** One file per line: direction, path, bytes, SHA-256, and "(incomplete)" when it did not finish. */
function fileLines(files: FileRecord[]): string {
  return files
    .map(
      (file) =>
        `${file.direction} ${file.path} ${file.bytes} bytes sha256:${file.sha256 || '-'}${file.complete ? '' : ' (incomplete)'}`,
    )
    .join('\n')
}

/** The report as CSV for a spreadsheet (csv.ts): one row per session, files one per line in their cell. */
export function sessionsCsv(sessions: SessionSummary[]): string {
  return toCsv(
    SESSION_COLUMNS,
    sessions.map((s) => [
      s.sessionId,
      s.technician,
      s.queue,
      s.hostAddress,
      s.hostName,
      s.startedAt ?? s.createdAt,
      s.endedAt,
      s.durationSeconds,
      s.endedBy,
      s.endReason,
      s.allowed.join(' '),
      s.denied.join(' '),
      fileLines(s.files),
      s.chatLines,
      s.artefacts.map((artefact) => `${artefact.kind} ${artefact.id}`).join('\n'),
    ]),
  )
}
