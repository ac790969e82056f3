/**
 * The admin audit trail: every login (success, failure, lock, refusal), idle logout and admin
 * action, with who, what, when, from where, and the state before and after. Append only: the
 * store has no way to change or delete an entry. Never holds a password, hash, secret or token:
 * `scrub` drops such keys even if a caller passed them.
 */
import { newId } from '../ids.js'
import type { Store } from '../store/index.js'

export type AuditAction =
  | 'organisation.init'
  | 'login.success'
  | 'login.failure'
  | 'login.locked'
  | 'login.refused'
  | 'login.totp-enrolment'
  | 'login.totp-enrolled'
  | 'login.password-changed'
  | 'logout'
  | 'logout.idle'
  | 'access.refused'
  | 'users.add'
  | 'users.set'
  | 'users.remove'
  | 'users.unlock'
  | 'users.reset-password'
  | 'groups.add'
  | 'groups.set'
  | 'tokens.create'
  | 'tokens.revoke'
  | 'sessions.transfer'
  | 'sessions.invite'
  | 'sessions.lead'
  | 'channels.create'
  | 'channels.revoke'
  | 'login.rate-limited'
  | 'retention.set'
  | 'retention.purge'
  | 'gdpr.export'
  | 'gdpr.delete'
  | 'webhooks.set'
  | 'webhooks.remove'
  | 'recordings.key'

export interface AuditInput {
  /** An email, `token:NAME` for a script token, or `-` when nobody is known. */
  actor: string
  action: AuditAction
  target?: string
  before?: Record<string, unknown>
  after?: Record<string, unknown>
  address?: string
}

/** One entry as `rescue admin audit` shows it. */
export interface AuditRecord {
  seq: number
  at: string
  actor: string
  action: string
  target?: string
  before?: Record<string, unknown>
  after?: Record<string, unknown>
  address?: string
}

const SECRET_KEY = /password|hash|salt|secret|token|otpauth/i

/** A copy without any key that could hold a secret. */
export function scrub(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    if (SECRET_KEY.test(key)) continue
    out[key] =
      item && typeof item === 'object' && !Array.isArray(item) ? scrub(item as Record<string, unknown>) : item
  }
  return out
}

export async function recordAudit(store: Store, entry: AuditInput): Promise<void> {
  await store.appendAudit({
    id: newId(),
    at: new Date().toISOString(),
    actor: entry.actor,
    action: entry.action,
    target: entry.target ?? null,
    before: entry.before ? JSON.stringify(scrub(entry.before)) : null,
    after: entry.after ? JSON.stringify(scrub(entry.after)) : null,
    address: entry.address ?? null,
  })
}

const parse = (json: string | null): Record<string, unknown> | undefined => {
  if (!json) return undefined
  try {
    return JSON.parse(json) as Record<string, unknown>
  } catch {
    return { unreadable: json }
  }
}

/** The newest `limit` entries, oldest first; `about` keeps entries whose actor or target is in it. */
export async function readAudit(
  store: Store,
  options: { limit: number; about?: string[] },
): Promise<AuditRecord[]> {
  const rows = await store.listAudit(options)
  return rows.map((row) => ({
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    action: row.action,
    ...(row.target ? { target: row.target } : {}),
    ...(row.before ? { before: parse(row.before) } : {}),
    ...(row.after ? { after: parse(row.after) } : {}),
    ...(row.address ? { address: row.address } : {}),
  }))
}
