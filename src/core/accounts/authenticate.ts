/**
 * Checks a bearer token on every API call and WebSocket upgrade: it must be live; a login token
 * unused for longer than the groups' idle timeout is revoked; the caller's address must pass the
 * groups' allow-lists. Each accepted call records the token's last use.
 */
import { recordAudit } from './audit-trail.js'
import { addressRefused } from './login.js'
import { addressAllowed, effectivePolicy, type EffectivePolicy } from './policy.js'
import { hashToken } from './token.js'
import { UserError } from '../errors.js'
import type { Store, UserWithOrganisation } from '../store/index.js'

export interface CallContext {
  /** The caller's address as the socket reports it. */
  address: string | undefined
}

/** Who is calling, with what policy, through which kind of token. */
export interface Principal {
  user: UserWithOrganisation
  policy: EffectivePolicy
  tokenKind: 'login' | 'script'
  /** How the audit trail names the caller: the email, or `token:NAME`. */
  name: string
}

function idleText(ms: number): string {
  return ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`
}

/** The caller behind a bearer token, or a UserError (notLoggedIn, forbidden). */
export async function authenticateCall(
  store: Store,
  token: string | undefined,
  context: CallContext,
): Promise<Principal> {
  if (!token) throw new UserError('notLoggedIn', 'no token was given', 'run rescue login first')
  const now = Date.now()
  const row = await store.findLiveToken(hashToken(token), new Date(now).toISOString())
  const user = row && (await store.findUserById(row.user_id))
  if (!row || !user) {
    // Revoked tokens are deleted, so "unknown" and "revoked" look alike here; an expired one is kept.
    const stale = row ? undefined : await store.findTokenByHash(hashToken(token))
    throw new UserError(
      'notLoggedIn',
      stale
        ? `the token expired at ${stale.expires_at}`
        : 'the token is unknown to this gateway, or was revoked',
      'log in again, or ask an admin for a new token',
    )
  }
  const policy = await effectivePolicy(store, user.id)
  const tokenKind = row.kind === 'script' ? 'script' : 'login'
  // A script token's account is named token:NAME, so the email names either kind.
  const name = user.email
  const address = context.address ? { address: context.address } : {}
  // Script tokens have their own lifetime and are revoked by hand; idling is what scripts do.
  const idleMs = policy.idleTimeoutMs
  if (tokenKind === 'login' && idleMs !== undefined) {
    const idle = now - Date.parse(row.last_used_at ?? row.created_at)
    if (idle > idleMs) {
      await store.deleteTokenById(row.id)
      await recordAudit(store, {
        actor: name,
        action: 'logout.idle',
        target: user.email,
        after: { idleMs: idle, timeoutMs: idleMs },
        ...address,
      })
      throw new UserError('notLoggedIn', `logged out after ${idleText(idleMs)} idle`, 'run rescue login')
    }
  }
  if (!addressAllowed(policy, context.address)) {
    await recordAudit(store, {
      actor: name,
      action: 'access.refused',
      target: user.email,
      after: { reason: 'address not in the allow-list' },
      ...address,
    })
    throw addressRefused(context.address)
  }
  await store.touchToken(row.id, new Date(now).toISOString())
  return { user, policy, tokenKind, name }
}

/** The technician a bearer token belongs to, or a UserError saying to log in (or why not). */
export async function authenticate(
  store: Store,
  token: string | undefined,
  context: CallContext,
): Promise<UserWithOrganisation> {
  return (await authenticateCall(store, token, context)).user
}
