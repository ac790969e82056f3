/**
 * The host's own audit log: what a technician did on this computer, one JSON object per line in
 * $XDG_STATE_HOME/rescue/audit.jsonl (or RESCUE_AUDIT_LOG). It owns the file's format, its
 * privacy (0700 folder, 0600 file), appending a record durably and chained to the one before
 * (chain.ts), reading the file back without trusting it, checking its chain, and the sentence
 * each entry reads as. Imports core only.
 */
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import type { TechnicianIdentity } from '../accounts/index.js'
import { permissions } from '../consent/types.js'
import { ExitCode, UserError, type ErrorCode } from '../errors.js'
import { roleName, type EndedBy } from '../protocol/control-messages.js'
import type { HostActivity } from '../host/events.js'
import { stateDir } from '../paths.js'
import { decidedByText, decisionText, describeHostActivity } from '../host/describe.js'
import { toJsonLine } from '../text/json-line.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { checkChain, GENESIS, linkTo, type ChainCheck } from './chain.js'
import { describeVerified } from '../trust/describe.js'
import type { VerifiedTechnician } from '../trust/proof.js'

/** What the host records, before the writer stamps the time. */
export type AuditRecord = (
  | {
      event: 'session-start'
      server: string
      technician: TechnicianIdentity
      sas: string
      /** With --trust: the technician as the organisation's key vouches by signature. */
      verified?: VerifiedTechnician
      /** An invited technician's session: the one they were invited into, and by whom. */
      invitedInto?: string
      invitedBy?: TechnicianIdentity
    }
  | { event: 'session-end'; by: EndedBy; reason: string; code?: ErrorCode }
  /** The technician handed the session to another; every grant was revoked. */
  | { event: 'session-transferred'; to: TechnicianIdentity }
  /** A link under the session dropped (this side's or the technician's); it is held for `graceMs`. */
  | { event: 'link-lost'; side: LinkSide; graceMs: number }
  /** The link came back and the session went on where it was. */
  | { event: 'link-restored'; side: LinkSide; downMs: number }
  /** The session's bytes went onto a direct link with the technician's computer at `peer`. */
  | { event: 'link-direct'; peer: string }
  /** The session's bytes go through the gateway (the direct link failed or dropped). */
  | { event: 'link-relay'; reason: string }
  /** A connection to the direct link's port was refused: not the paired technician, or one too many. */
  | { event: 'direct-refused'; from: string; reason: string }
  /** Progress and the words' question are for the view only: the log keeps outcomes. */
  | Exclude<HostActivity, { event: 'file-progress' | 'words-asked' }>
) & { session: string }

/** Whose link dropped: this computer's own connection, or the other side's. */
export type LinkSide = 'self' | 'peer'

/** One line of the audit log: a record and when it was written (ISO-8601). */
export type AuditEntry = AuditRecord & { time: string }

/** The audit log's path: RESCUE_AUDIT_LOG when it is absolute, else $XDG_STATE_HOME/rescue/audit.jsonl. */
export function defaultAuditPath(): string {
  const override = process.env.RESCUE_AUDIT_LOG
  return override && path.isAbsolute(override) ? override : path.join(stateDir(), 'audit.jsonl')
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** An append-only audit log file, written synchronously so a killed host loses nothing it recorded. */
export class AuditLog {
  private fd: number | undefined
  /** The line this log wrote last and the file's size after it: while the size is still that, no one else wrote. */
  private tail?: { size: number; last: string }

  private constructor(
    readonly file: string,
    fd: number,
  ) {
    this.fd = fd
  }

  /** Opens (creating if needed) the log for append, private to this user: a 0700 folder, a 0600 file. */
  static open(file = defaultAuditPath()): AuditLog {
    let fd: number | undefined
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
      // Read as well as append: each record links to the last line already there.
      fd = fs.openSync(file, 'a+', 0o600)
      // A log of what a stranger did on this computer is nobody else's business.
      if ((fs.fstatSync(fd).mode & 0o077) !== 0) fs.fchmodSync(fd, 0o600)
      return new AuditLog(file, fd)
    } catch (error) {
      if (fd !== undefined) fs.closeSync(fd)
      throw new UserError(
        'failure',
        `cannot open the audit log ${file}: ${reason(error)}`,
        'make that file writable by you and by nobody else, or point RESCUE_AUDIT_LOG at another file',
      )
    }
  }

  /**
   * Appends one line, linked to the line before it (read from the file each time, so that two
   * hosts writing the same log keep one chain); throws a UserError when the disk refuses it.
   * After close() it does nothing.
   */
  record(record: AuditRecord): void {
    if (this.fd === undefined) return
    try {
      const size = fs.fstatSync(this.fd).size
      // A tree of small files writes a few lines per file: the tail is read back only when
      // someone else (another host on the same log) wrote since.
      const { last, endsLine } =
        this.tail?.size === size ? { last: this.tail.last, endsLine: true } : lastLine(this.fd, size)
      const entry = toJsonLine({
        time: new Date().toISOString(),
        ...record,
        prev: last === undefined ? GENESIS : linkTo(last),
      })
      // A line cut short (a full disk, a crash) is ended first: the entry must not be glued to it.
      const line = Buffer.from(`${endsLine ? '' : '\n'}${entry}\n`)
      this.tail = undefined
      for (let written = 0; written < line.length;) {
        written += fs.writeSync(this.fd, line, written, line.length - written)
      }
      this.tail = { size: size + line.length, last: entry }
    } catch (error) {
      throw new UserError('failure', `cannot write to the audit log ${this.file}: ${reason(error)}`)
    }
  }

  close(): void {
    if (this.fd === undefined) return
    const fd = this.fd
    this.fd = undefined
    fs.closeSync(fd)
  }
}

const TAIL_CHUNK = 4096

/**
 * The file's last non-blank line (undefined when it has none), and whether the file ends with a
 * new line (an empty file counts as ended). Reads backwards from the end, a chunk at a time.
 */
function lastLine(fd: number, size: number): { last: string | undefined; endsLine: boolean } {
  if (size === 0) return { last: undefined, endsLine: true }
  let tail = Buffer.alloc(0)
  let start = size
  let endsLine: boolean | undefined
  while (start > 0) {
    const length = Math.min(TAIL_CHUNK, start)
    start -= length
    const chunk = Buffer.alloc(length)
    fs.readSync(fd, chunk, 0, length, start)
    tail = Buffer.concat([chunk, tail])
    endsLine ??= tail[tail.length - 1] === 0x0a
    // Whole lines only: a line starts after a new line, or at the start of the file.
    const text = tail.toString('utf8')
    const lines = text.split('\n')
    const complete = start === 0 ? lines : lines.slice(1)
    const last = complete.findLast((line) => line.trim() !== '')
    if (last !== undefined) return { last, endsLine }
  }
  return { last: undefined, endsLine: endsLine ?? true }
}

/** How each DecidedBy reads after the decision: "allowed once by the end user", "denied: nobody answered in time". */
const keysOf = <K extends string>(record: Record<K, unknown>) => Object.keys(record) as [K, ...K[]]

const common = { time: z.iso.datetime({ offset: true }), session: z.string().min(1) }
const channelKind = z.enum(['shell', 'exec', 'sftp', 'view', 'control', 'present'])
const channelNumber = z.number().int().nonnegative()

const identitySchema = z.object({ name: z.string(), email: z.string(), organisation: z.string() })

const auditEntrySchema = z.discriminatedUnion('event', [
  z.object({
    ...common,
    event: z.literal('session-start'),
    server: z.string(),
    technician: z.object({ name: z.string(), email: z.string(), organisation: z.string() }),
    sas: z.string(),
    verified: z
      .object({
        email: z.string(),
        organisation: z.string(),
        caFingerprint: z.string(),
        deviceFingerprint: z.string(),
        validUntil: z.string(),
      })
      .optional(),
    invitedInto: z.string().optional(),
    invitedBy: identitySchema.optional(),
  }),
  z.object({
    ...common,
    event: z.literal('session-transferred'),
    to: z.object({ name: z.string(), email: z.string(), organisation: z.string() }),
  }),
  z.object({
    ...common,
    event: z.literal('link-lost'),
    side: z.enum(['self', 'peer']),
    graceMs: z.number().int().nonnegative(),
  }),
  z.object({
    ...common,
    event: z.literal('link-restored'),
    side: z.enum(['self', 'peer']),
    downMs: z.number().int().nonnegative(),
  }),
  z.object({ ...common, event: z.literal('link-direct'), peer: z.string() }),
  z.object({ ...common, event: z.literal('link-relay'), reason: z.string() }),
  z.object({ ...common, event: z.literal('direct-refused'), from: z.string(), reason: z.string() }),
  z.object({
    ...common,
    event: z.literal('session-end'),
    by: z.enum(['host', 'technician', 'gateway']),
    reason: z.string(),
    code: z.enum(keysOf(ExitCode)).optional(),
  }),
  z.object({
    ...common,
    event: z.literal('consent-request'),
    id: z.string(),
    permission: z.enum(permissions),
    summary: z.string(),
    detail: z.string().optional(),
    technician: z.string(),
    deadline: z.string(),
    folder: z.string().optional(),
    sessionOnly: z.literal(true).optional(),
    covers: z.array(z.enum(permissions)).optional(),
  }),
  z.object({
    ...common,
    event: z.literal('consent-decision'),
    id: z.string(),
    permission: z.enum(permissions),
    decision: z.enum(keysOf(decisionText)),
    by: z.enum(keysOf(decidedByText)),
    folder: z.string().optional(),
    covers: z.array(z.enum(permissions)).optional(),
  }),
  z.object({
    ...common,
    event: z.literal('channel-open'),
    channel: channelNumber,
    kind: channelKind,
    command: z.string().optional(),
  }),
  z.object({
    ...common,
    event: z.literal('channel-close'),
    channel: channelNumber,
    kind: channelKind,
    exitCode: z.number().int().optional(),
    signal: z.string().optional(),
  }),
  z.object({ ...common, event: z.literal('grants-revoked'), closedChannels: channelNumber }),
  z.object({ ...common, event: z.literal('control-taken-back'), closedChannels: channelNumber }),
  z.object({ ...common, event: z.literal('stopped-watching'), channel: channelNumber }),
  z.object({
    ...common,
    event: z.literal('file-transfer'),
    direction: z.enum(['to-host', 'from-host']),
    path: z.string(),
    bytes: z.number().int().nonnegative(),
    sha256: z.string(),
    complete: z.boolean(),
    from: z.number().int().nonnegative().optional(),
  }),
  z.object({ ...common, event: z.literal('refused'), request: z.string() }),
  z.object({ ...common, event: z.literal('env'), name: z.string(), value: z.string() }),
  z.object({
    ...common,
    event: z.literal('chat'),
    from: z.enum(['host', 'technician']),
    time: z.string(),
    text: z.string(),
  }),
  z.object({ ...common, event: z.literal('auto-approve'), permissions: z.array(z.enum(permissions)) }),
  z.object({
    ...common,
    event: z.literal('words-confirmed'),
    by: z.literal('end-user'),
    technician: z.string().optional(),
  }),
  z.object({
    ...common,
    event: z.literal('words-rejected'),
    by: z.enum(['end-user', 'timeout']),
    technician: z.string().optional(),
  }),
  z.object({
    ...common,
    event: z.literal('technician-invited'),
    technician: identitySchema,
    by: identitySchema,
  }),
  z.object({ ...common, event: z.literal('technician-joined'), technician: identitySchema, sas: z.string() }),
  z.object({ ...common, event: z.literal('technician-removed'), technician: identitySchema }),
  z.object({
    ...common,
    event: z.literal('technician-left'),
    technician: identitySchema,
    removed: z.boolean(),
    reason: z.string(),
  }),
  z.object({ ...common, event: z.literal('lead-changed'), to: identitySchema }),
  z.object({
    ...common,
    event: z.literal('invitation-refused'),
    technician: identitySchema,
    reason: z.string(),
  }),
  z.object({
    ...common,
    event: z.literal('reboot-scheduled'),
    ticket: z.string(),
    graceMs: z.number().int().nonnegative(),
    command: z.string(),
  }),
  z.object({ ...common, event: z.literal('session-rejoined'), technician: z.string() }),
  z.object({ ...common, event: z.literal('trust-gateway'), permissions: z.array(z.enum(permissions)) }),
  z.object({
    ...common,
    event: z.literal('recording'),
    state: z.enum(['started', 'stopped']),
    required: z.boolean(),
    input: z.boolean(),
    reason: z.string().optional(),
  }),
])

// The schema and the type must describe the same entries: either drifting fails to compile.
type Assignable<_A extends B, B> = true
type _SchemaMatchesType = [
  Assignable<z.infer<typeof auditEntrySchema>, AuditEntry>,
  Assignable<AuditEntry, z.infer<typeof auditEntrySchema>>,
]

/** Sessions with the same prefix of this many characters are too likely to be confused. */
const MIN_PREFIX = 6

function parseLine(line: string): AuditEntry | undefined {
  try {
    const parsed = auditEntrySchema.safeParse(JSON.parse(line))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

/** The one session id that `wanted` names (a full id, or a unique prefix of 6+ characters), if any. */
function resolveSession(wanted: string, entries: AuditEntry[]): string | undefined {
  const needle = wanted.trim().toLowerCase()
  const sessions = [...new Set(entries.map((entry) => entry.session))]
  const exact = sessions.find((session) => session.toLowerCase() === needle)
  if (exact !== undefined) return exact
  if ([...needle].length < MIN_PREFIX) {
    throw new UserError(
      'usage',
      `"${sanitizeForTerminal(wanted, 40)}" is too short to name a session`,
      `give at least ${MIN_PREFIX} characters of the session ID (rescue log shows the first 8)`,
    )
  }
  const matches = sessions.filter((session) => session.toLowerCase().startsWith(needle))
  if (matches.length > 1) {
    const shown = matches.slice(0, 5).map((session) => sanitizeForTerminal(session, 40))
    throw new UserError(
      'usage',
      `"${sanitizeForTerminal(wanted, 40)}" matches ${matches.length} sessions: ${shown.join(', ')}`,
      'give more characters of the session ID',
    )
  }
  return matches[0]
}

/**
 * Reads the audit log. A missing file has no entries; a line that is not a valid entry (edited,
 * cut short by a crash, from a newer version) is counted in `skipped`, never thrown.
 */
export function readAuditLog(
  file = defaultAuditPath(),
  filter: { session?: string } = {},
): { entries: AuditEntry[]; skipped: number } {
  let text = ''
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new UserError('failure', `cannot read the audit log ${file}: ${reason(error)}`)
  }
  const entries: AuditEntry[] = []
  let skipped = 0
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const entry = parseLine(line)
    if (entry) entries.push(entry)
    else skipped++
  }
  if (filter.session === undefined) return { entries, skipped }
  const session = resolveSession(filter.session, entries)
  return { entries: entries.filter((entry) => entry.session === session), skipped }
}

export type { ChainCheck } from './chain.js'

/** What `rescue log --verify` found in a log that was not changed, and the file it read. */
export type AuditVerification = Exclude<ChainCheck, { status: 'broken' }> & { file: string }

/**
 * Checks the audit log's hash chain (chain.ts). A missing file is intact with no entries; a broken
 * chain is a UserError (`auditBroken`) naming the first line whose link fails.
 */
export function verifyAuditLog(file = defaultAuditPath()): AuditVerification {
  let text = ''
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new UserError('failure', `cannot read the audit log ${file}: ${reason(error)}`)
  }
  const check = checkChain(text)
  if (check.status === 'broken') {
    throw new UserError(
      'auditBroken',
      `the audit log ${file} has been changed: ${check.reason}`,
      `look at line ${check.line} of that file and the lines around it, and compare them with the session log on the gateway, which this computer cannot change`,
    )
  }
  return { ...check, file }
}

/** One human sentence for an entry; every string that came from the other side is sanitized again. */
export function describeAuditEntry(entry: AuditEntry): string {
  const safe = (text: string) => sanitizeForTerminal(text)
  switch (entry.event) {
    case 'session-start': {
      const { name, email, organisation } = entry.technician
      return (
        `session started with ${safe(name)} <${safe(email)}> of ${safe(organisation)} ` +
        `through ${safe(entry.server)}; security words: ${safe(entry.sas)}` +
        (entry.verified ? `; ${safe(describeVerified(entry.verified))}` : '')
      )
    }
    case 'session-transferred': {
      const { name, email, organisation } = entry.to
      return `session handed over to ${safe(name)} <${safe(email)}> of ${safe(organisation)}; every grant revoked`
    }
    case 'link-lost': {
      const whose = entry.side === 'self' ? "this computer's connection" : "the technician's connection"
      return `${whose} dropped; the session is held for ${Math.round(entry.graceMs / 1000)} s`
    }
    case 'link-restored': {
      const whose = entry.side === 'self' ? "this computer's connection" : "the technician's connection"
      return `${whose} came back after ${(entry.downMs / 1000).toFixed(1)} s; the session went on`
    }
    case 'link-direct':
      return `direct link to the technician's computer at ${safe(entry.peer)}: the gateway no longer carries the session`
    case 'link-relay':
      return `the session goes through the gateway: ${safe(entry.reason)}`
    case 'direct-refused':
      return `refused a connection to the direct link's port from ${safe(entry.from)}: ${safe(entry.reason)}`
    case 'session-end': {
      const by = entry.by === 'gateway' ? 'the gateway' : `the ${roleName[entry.by]}`
      return `session ended by ${by}: ${safe(entry.reason)}${entry.code ? ` (${entry.code})` : ''}`
    }
    default:
      return describeHostActivity(entry)
  }
}

const pad = (value: number) => String(value).padStart(2, '0')

/** `YYYY-MM-DD HH:MM:SS` in this computer's time zone. */
export function formatLocalTime(date: Date): string {
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`
  return `${day} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
}

/** The line `rescue log` prints: local time, the session id's first 8 characters, the sentence. */
export function formatAuditLine(entry: AuditEntry): string {
  const session = sanitizeForTerminal(entry.session.slice(0, 8), 8).padEnd(8)
  return `${formatLocalTime(new Date(entry.time))}  ${session}  ${describeAuditEntry(entry)}`
}
