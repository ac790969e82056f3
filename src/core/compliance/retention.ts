/**
 * Retention: how long the gateway keeps session logs (sessions, their events, chat and file
 * records), webhook deliveries and session artefacts (recordings); an organisation setting, two
 * years unless an admin sets another. The gateway purges what is older itself (jobs.ts) and
 * writes each purge to the admin audit trail, with counts and never the content.
 */
import { recordAudit } from '../accounts/audit-trail.js'
import { requireAdmin, requireMaster, type Actor } from '../accounts/roles.js'
import { UserError } from '../errors.js'
import { ComplianceStore } from '../store/compliance.js'
import type { Store } from '../store/index.js'
import { deleteArtefacts, SESSION_ARTEFACTS, type SessionArtefacts } from './artefacts.js'

/** Two years, as LogMeIn Rescue keeps its chat logs. */
export const DEFAULT_RETENTION_DAYS = 730
/** A day at least (a shorter one would purge sessions still being written), ten years at most. */
export const RETENTION_LIMITS = { minDays: 1, maxDays: 3650 }
const DAY_MS = 86_400_000

export interface RetentionSetting {
  days: number
  /** True when nobody set it: the default. */
  isDefault: boolean
}

/** "90d", "12w", "2y" (365 days each) or a bare number of days. */
export function parseRetention(text: string): number {
  const match = /^(\d{1,5})\s*([dwy]?)$/i.exec(text.trim())
  const unit = { '': 1, d: 1, w: 7, y: 365 }[(match?.[2] ?? '').toLowerCase()]
  const days = match && unit ? Number(match[1]) * unit : Number.NaN
  if (!Number.isInteger(days)) {
    throw new UserError(
      'usage',
      `"${text.slice(0, 40)}" is not a retention period`,
      'write it like 90d, 12w or 2y',
    )
  }
  if (days < RETENTION_LIMITS.minDays || days > RETENTION_LIMITS.maxDays) {
    throw new UserError(
      'usage',
      `a retention period is between ${RETENTION_LIMITS.minDays} day and ${RETENTION_LIMITS.maxDays} days, not ${days}`,
    )
  }
  return days
}

async function organisationId(store: Store): Promise<string> {
  const organisation = await store.findOrganisation()
  if (!organisation)
    throw new UserError('failure', 'this gateway has no organisation yet', 'run rescue admin init')
  return organisation.id
}

export async function readRetention(store: Store): Promise<RetentionSetting> {
  const settings = await new ComplianceStore(store).settings(await organisationId(store))
  const days = settings?.retention_days ?? null
  return days === null ? { days: DEFAULT_RETENTION_DAYS, isDefault: true } : { days, isDefault: false }
}

export async function showRetention(store: Store, actor: Actor): Promise<RetentionSetting> {
  requireAdmin(actor, 'read the retention period')
  return readRetention(store)
}

export async function setRetention(store: Store, actor: Actor, days: number): Promise<RetentionSetting> {
  requireMaster(actor, 'set the retention period')
  if (!Number.isInteger(days) || days < RETENTION_LIMITS.minDays || days > RETENTION_LIMITS.maxDays) {
    throw new UserError(
      'usage',
      `a retention period is between ${RETENTION_LIMITS.minDays} and ${RETENTION_LIMITS.maxDays} days`,
    )
  }
  const before = await readRetention(store)
  await new ComplianceStore(store).saveSettings(await organisationId(store), {
    retention_days: days,
    updated_at: new Date().toISOString(),
  })
  await recordAudit(store, {
    actor: actor.name,
    action: 'retention.set',
    target: 'retention',
    before: { days: before.days },
    after: { days },
    ...(actor.address ? { address: actor.address } : {}),
  })
  return { days, isDefault: false }
}

export interface PurgeResult {
  cutoff: string
  sessions: number
  events: number
  webhookDeliveries: number
  artefacts: Record<string, number>
}

/**
 * Erases what is older than the retention period at `now`, and says so in the admin audit trail
 * when anything went. Safe to run on several gateways at once: a second run finds nothing.
 */
export async function purgeExpired(
  store: Store,
  now: Date,
  artefacts: readonly SessionArtefacts[] = SESSION_ARTEFACTS,
): Promise<PurgeResult> {
  // A gateway started before `admin init` has nothing to purge yet.
  if (!(await store.hasOrganisation())) {
    return { cutoff: now.toISOString(), sessions: 0, events: 0, webhookDeliveries: 0, artefacts: {} }
  }
  const { days } = await readRetention(store)
  const cutoff = new Date(now.getTime() - days * DAY_MS).toISOString()
  const compliance = new ComplianceStore(store)
  const ids = await compliance.sessionIdsOlderThan(cutoff)
  // Artefacts first: a crash in between leaves a session without its recording, never the reverse.
  const artefactCounts = await deleteArtefacts(store, ids, artefacts)
  const counts = await compliance.deleteSessions(ids)
  counts.webhookDeliveries += await compliance.deleteFinishedDeliveriesBefore(cutoff)
  const result = { cutoff, ...counts, artefacts: artefactCounts }
  const anything =
    counts.sessions +
    counts.events +
    counts.webhookDeliveries +
    Object.values(artefactCounts).reduce((a, b) => a + b, 0)
  if (anything > 0) {
    await recordAudit(store, {
      actor: 'gateway',
      action: 'retention.purge',
      target: 'session-log',
      after: { retentionDays: days, ...result },
    })
  }
  return result
}
