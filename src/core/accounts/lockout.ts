/**
 * Lockout after repeated failed logins: after `maxFailures` in a row the account is locked until
 * `lockoutMs` passes or an admin unlocks it. Pure decisions on a lock state. An account's count is
 * kept by the store in single statements (reserveLoginAttempt), so parallel attempts cannot race
 * past it; `afterFailure` serves emails without an account, which lock the same way.
 */
import type { User } from '../store/index.js'

export interface LockoutSettings {
  maxFailures: number
  lockoutMs: number
}

export const DEFAULT_LOCKOUT: LockoutSettings = { maxFailures: 5, lockoutMs: 15 * 60 * 1000 }

type LockState = Pick<User, 'failed_logins' | 'locked_until'>

/** When the lock ends, if the account is locked at `now`. */
export function lockedUntil(user: LockState, now: number): Date | undefined {
  if (!user.locked_until) return undefined
  const until = Date.parse(user.locked_until)
  return until > now ? new Date(until) : undefined
}

/** The lock state after one more failure: a lock that ran out starts the count again. */
export function afterFailure(user: LockState, now: number, settings: LockoutSettings): LockState {
  const expired = user.locked_until !== null && Date.parse(user.locked_until) <= now
  const failures = (expired ? 0 : user.failed_logins) + 1
  return {
    failed_logins: failures,
    locked_until:
      failures >= settings.maxFailures
        ? new Date(now + settings.lockoutMs).toISOString()
        : expired
          ? null
          : user.locked_until,
  }
}

/** The state after a success or an admin's unlock. */
export const UNLOCKED: LockState = { failed_logins: 0, locked_until: null }
