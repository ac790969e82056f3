/**
 * GDPR requests: everything the gateway holds about a technician or a session, decrypted, as one
 * JSON document (access, portability), and its erasure. What an erasure leaves is an entry in the
 * admin audit trail saying that it happened and what kinds it erased; the person's email in older
 * audit entries is replaced by a pseudonym (`erased:` and 16 hex digits of its SHA-256), so an
 * admin holding the request can still show it was carried out.
 */
import { createHash } from 'node:crypto'
import { readAudit, recordAudit, type AuditRecord } from '../accounts/audit-trail.js'
import { normaliseEmail } from '../accounts/identity.js'
import { requireMaster, roleOf, type Actor } from '../accounts/roles.js'
import { UserError } from '../errors.js'
import type { LogCipher } from '../gateway/log-cipher.js'
import { ComplianceStore } from '../store/compliance.js'
import type { SessionRow, Store } from '../store/index.js'
import { deleteArtefacts, listArtefacts, SESSION_ARTEFACTS, type SessionArtefacts } from './artefacts.js'
import { summarise, type SessionSummary } from './reports.js'
import { chatOf, openEvents, type ChatLine, type LogEvent } from './session-log.js'

export type GdprSubject = { technician: string } | { session: string }

export interface GdprContext {
  store: Store
  cipher: LogCipher
  artefacts?: readonly SessionArtefacts[]
}

export interface SessionExport {
  summary: SessionSummary
  events: LogEvent[]
  chat: ChatLine[]
  webhookDeliveries: {
    id: string
    createdAt: string
    attempts: number
    deliveredAt: string | null
    lastError: string | null
  }[]
}

export interface GdprExport {
  exportedAt: string
  subject: GdprSubject
  account?: Record<string, unknown>
  tokens?: Record<string, unknown>[]
  pins?: Record<string, unknown>[]
  sessions: SessionExport[]
  adminAudit: AuditRecord[]
}

export interface GdprErasure {
  subject: GdprSubject
  erased: Record<string, number | Record<string, number>>
  /** How the audit trail now names the person (technician erasures only). */
  pseudonym?: string
}

/** What replaces an erased email in the audit trail. */
export function pseudonymOf(email: string): string {
  return `erased:${createHash('sha256').update(email).digest('hex').slice(0, 16)}`
}

function parseSubject(subject: GdprSubject): GdprSubject {
  if ('technician' in subject) return { technician: normaliseEmail(subject.technician) }
  return subject
}

interface Found {
  subject: GdprSubject
  user?: Awaited<ReturnType<Store['findUserByEmail']>>
  sessions: SessionRow[]
  audit: Awaited<ReturnType<ComplianceStore['auditAbout']>>
}

async function find(store: Store, raw: GdprSubject): Promise<Found> {
  const subject = parseSubject(raw)
  const compliance = new ComplianceStore(store)
  if ('session' in subject) {
    const row = /^[a-z0-9]{1,64}$/.test(subject.session)
      ? await store.findSession(subject.session)
      : undefined
    if (!row) {
      throw new UserError(
        'usage',
        `no session ${subject.session.slice(0, 64)} in the session log`,
        'list sessions with rescue admin report sessions',
      )
    }
    return { subject, sessions: [row], audit: await compliance.auditAbout(row.id) }
  }
  const email = subject.technician
  const user = await store.findUserByEmail(email)
  const audit = await compliance.auditAbout(email)
  if (!user && audit.length === 0) {
    throw new UserError(
      'usage',
      `the gateway holds nothing about ${email.slice(0, 320)}`,
      'check the email (rescue admin users list)',
    )
  }
  const sessions = user ? await compliance.sessions({ technicianIds: [user.id] }) : []
  return { subject, user, sessions, audit }
}

async function exportSession(context: GdprContext, row: SessionRow): Promise<SessionExport> {
  const { store } = context
  const events = openEvents(await store.listSessionEvents(row.id), context.cipher)
  const artefacts = await listArtefacts(store, [row.id], context.artefacts ?? SESSION_ARTEFACTS)
  const deliveries = await new ComplianceStore(store).deliveriesOf([row.id])
  return {
    summary: await summarise(context, row, events, artefacts),
    events,
    chat: chatOf(events),
    webhookDeliveries: deliveries.map((delivery) => ({
      id: delivery.id,
      createdAt: delivery.created_at,
      attempts: delivery.attempts,
      deliveredAt: delivery.delivered_at,
      lastError: delivery.last_error,
    })),
  }
}

/** Everything the gateway holds about the subject, decrypted; the export itself goes in the audit trail. */
export async function gdprExport(context: GdprContext, actor: Actor, raw: GdprSubject): Promise<GdprExport> {
  requireMaster(actor, 'export personal data')
  const { store } = context
  const found = await find(store, raw)
  const compliance = new ComplianceStore(store)
  const sessions: SessionExport[] = []
  for (const row of found.sessions) sessions.push(await exportSession(context, row))
  const seqs = new Set(found.audit.map((row) => row.seq))
  const adminAudit = (await readAudit(store, { limit: Number.MAX_SAFE_INTEGER })).filter((entry) =>
    seqs.has(entry.seq),
  )
  const user = found.user
  const result: GdprExport = {
    exportedAt: new Date().toISOString(),
    subject: found.subject,
    ...(user
      ? {
          account: {
            email: user.email,
            name: user.name,
            organisation: user.organisation_name,
            role: roleOf(user),
            kind: user.kind,
            groups: (await store.groupsOfUser(user.id)).map((group) => group.name),
            adminOf: (await store.groupsAdministeredBy(user.id)).map((group) => group.name),
            createdAt: user.created_at,
            passwordChangedAt: user.password_changed_at,
            twoFactor: user.totp_confirmed === 1,
            failedLogins: user.failed_logins,
            lockedUntil: user.locked_until,
          },
          tokens: await compliance.tokensOf(user.id),
          pins: await compliance.pinsOf(user.id),
        }
      : {}),
    sessions,
    adminAudit,
  }
  await recordAudit(store, {
    actor: actor.name,
    action: 'gdpr.export',
    target: 'technician' in found.subject ? found.subject.technician : found.subject.session,
    after: { sessions: sessions.length },
    ...(actor.address ? { address: actor.address } : {}),
  })
  return result
}

/** Erases what the gateway holds about the subject and says what it erased. */
export async function gdprDelete(context: GdprContext, actor: Actor, raw: GdprSubject): Promise<GdprErasure> {
  requireMaster(actor, 'erase personal data')
  const { store } = context
  const found = await find(store, raw)
  const compliance = new ComplianceStore(store)
  const user = found.user
  if (user && user.id === actor.user.id) {
    throw new UserError('usage', 'you cannot erase your own account', 'another master admin can')
  }
  if (user && roleOf(user) === 'master') {
    throw new UserError(
      'forbidden',
      `${user.email} is a master admin and cannot be erased`,
      'make them an admin or technician first (rescue admin users set --role)',
    )
  }
  const ids = found.sessions.map((row) => row.id)
  const artefacts = await deleteArtefacts(store, ids, context.artefacts ?? SESSION_ARTEFACTS)
  const counts = await compliance.deleteSessions(ids)
  const erased: GdprErasure['erased'] = { ...counts, artefacts }
  let pseudonym: string | undefined
  if ('technician' in found.subject) {
    const email = found.subject.technician
    pseudonym = pseudonymOf(email)
    if (user) {
      erased.tokens = (await compliance.tokensOf(user.id)).length
      erased.pins = (await compliance.pinsOf(user.id)).length
      await store.deleteUser(user.id)
      erased.account = 1
    } else {
      erased.account = 0
    }
    erased.auditEntriesPseudonymised = await compliance.pseudonymiseAudit(email, pseudonym)
  }
  await recordAudit(store, {
    actor: actor.name,
    action: 'gdpr.delete',
    target: pseudonym ?? ('session' in found.subject ? found.subject.session : '-'),
    after: { kind: 'technician' in found.subject ? 'technician' : 'session', erased },
    ...(actor.address ? { address: actor.address } : {}),
  })
  return { subject: found.subject, erased, ...(pseudonym ? { pseudonym } : {}) }
}
