/**
 * Password login, hardened: lockout after repeated failures, the group's IP allow-list, TOTP
 * (enrolled at the first login that needs it), and a forced password change (first login, after a
 * reset, or when the password is too old). A login that needs more than the password answers
 * with what it needs, and the client sends everything again with it; nothing is consumed (a TOTP
 * step, a password change) until the whole attempt succeeds. Every outcome goes to the audit trail.
 */
import { recordAudit, type AuditAction } from './audit-trail.js'
import { identityOf, type TechnicianIdentity } from './identity.js'
import { afterFailure, DEFAULT_LOCKOUT, lockedUntil, UNLOCKED, type LockoutSettings } from './lockout.js'
import { hashPassword, verifyPassword } from './password.js'
import { checkNewPassword, PASSWORD_POLICY, passwordExpired } from './password-policy.js'
import { addressAllowed, effectivePolicy } from './policy.js'
import { open, seal } from './secret-box.js'
import { hashToken, newToken } from './token.js'
import { newTotpSecret, totpUri, verifyTotp } from './totp.js'
import { UserError } from '../errors.js'
import { newId } from '../ids.js'
import type { Store, UserWithOrganisation } from '../store/index.js'

export const TOKEN_TTL_MS = 7 * 24 * 60 * 60 * 1000

export interface LoginSettings {
  lockout: LockoutSettings
  passwordMaxAgeMs: number
}

export const DEFAULT_LOGIN_SETTINGS: LoginSettings = {
  lockout: DEFAULT_LOCKOUT,
  passwordMaxAgeMs: PASSWORD_POLICY.maxAgeMs,
}

export interface LoginAttempt {
  email: string
  password: string
  /** The 6-digit code from the authenticator app, when the gateway asked for one. */
  totp?: string
  /** The new password, when the gateway asked for one. */
  newPassword?: string
  /** The caller's address, checked against the groups' allow-lists; none fails any allow-list. */
  address?: string
}

export interface LoginResult {
  token: string
  expiresAt: string
  user: TechnicianIdentity
}

export type LoginNeed = 'totp' | 'new-password'

/** The password was right, and the login needs more: send the attempt again with these. */
export interface LoginChallenge {
  needs: LoginNeed[]
  /** First login of a group that requires 2FA: the secret to enrol, shown once per attempt. */
  otpauthUri?: string
  /** Why a new password is needed. */
  passwordReason?: 'first-login' | 'expired'
}

export type LoginReply = LoginResult | LoginChallenge

export function isChallenge(reply: LoginReply): reply is LoginChallenge {
  return 'needs' in reply
}

// A well-formed salt and hash that no password matches, so an unknown email costs the same scrypt.
const DUMMY = { salt: 'no-such-user-salt-000000', hash: 'A'.repeat(88) }

/** One login attempt: a token, a challenge for what is missing, or a UserError (audited either way). */
export async function loginStep(
  store: Store,
  attempt: LoginAttempt,
  settings: LoginSettings = DEFAULT_LOGIN_SETTINGS,
): Promise<LoginReply> {
  const now = Date.now()
  const email = attempt.email.trim().toLowerCase()
  const found = await store.findUserByEmail(email)
  // Script tokens' accounts have no password: their email can never log in.
  const user = found?.kind === 'person' ? found : undefined
  const valid = await verifyPassword(
    attempt.password,
    user?.password_salt ?? DUMMY.salt,
    user?.password_hash ?? DUMMY.hash,
  )
  const audit = (action: AuditAction, after?: Record<string, unknown>) =>
    recordAudit(store, {
      actor: user ? email : '-',
      action,
      target: email,
      ...(after ? { after } : {}),
      ...(attempt.address ? { address: attempt.address } : {}),
    })

  if (!user) {
    // An email without an account locks like one, so a lock says nothing about which emails exist.
    const lockState = await store.findLoginFailures(email)
    const locked = lockedUntil(lockState, now)
    if (locked) {
      await audit('login.locked', { reason: 'attempt while locked', lockedUntil: locked.toISOString() })
      throw lockedError(email, locked)
    }
    await recordUnknownFailure(store, email, lockState, now, settings, audit)
    throw new UserError('authFailed', 'wrong email or password')
  }

  // Every attempt takes one of the account's tries before its outcome is told, so attempts sent
  // in parallel get no more than `maxFailures` answers between them; one that was no failure
  // (a success, a challenge, a refusal for another reason) gives its try back.
  const nowIso = new Date(now).toISOString()
  const reserved = await store.reserveLoginAttempt(user.id, nowIso)
  const { maxFailures, lockoutMs } = settings.lockout
  const lockUntil = new Date(now + lockoutMs).toISOString()
  const locked =
    lockedUntil(reserved, now) ??
    (reserved.failed_logins > maxFailures
      ? new Date(await store.lockUser(user.id, lockUntil, nowIso))
      : undefined)
  if (locked) {
    // Refused unheard: not a failure of its own, so the count stays at the failures answered.
    await store.releaseLoginAttempt(user.id)
    await audit('login.locked', { reason: 'attempt while locked', lockedUntil: locked.toISOString() })
    throw lockedError(email, locked)
  }
  let counted = false
  const fail = async (reason: string) => {
    counted = true
    await audit('login.failure', { reason, failedLogins: reserved.failed_logins })
    if (reserved.failed_logins >= maxFailures) {
      const until = await store.lockUser(user.id, lockUntil, nowIso)
      await audit('login.locked', { reason: `${reserved.failed_logins} failed logins`, lockedUntil: until })
    }
  }
  try {
    if (!valid) {
      await fail('wrong password')
      throw new UserError('authFailed', 'wrong email or password')
    }
    const reply = await afterPassword(store, user, attempt, settings, now, audit, fail)
    if (!isChallenge(reply)) counted = true
    return reply
  } finally {
    if (!counted) await store.releaseLoginAttempt(user.id)
  }
}

/** What the password alone does not settle: allow-list, TOTP, a new password; then the token. */
async function afterPassword(
  store: Store,
  user: UserWithOrganisation,
  attempt: LoginAttempt,
  settings: LoginSettings,
  now: number,
  audit: (action: AuditAction, after?: Record<string, unknown>) => Promise<void>,
  fail: (reason: string) => Promise<void>,
): Promise<LoginReply> {
  const email = user.email
  const policy = await effectivePolicy(store, user.id)
  if (!addressAllowed(policy, attempt.address)) {
    await audit('login.refused', { reason: 'address not in the allow-list' })
    throw addressRefused(attempt.address)
  }

  const enrolled = user.totp_confirmed === 1 && user.totp_secret !== null
  const totpRequired = policy.require2fa || enrolled
  const passwordReason =
    user.must_change_password === 1
      ? 'first-login'
      : passwordExpired(user.password_changed_at, now, settings.passwordMaxAgeMs)
        ? 'expired'
        : undefined

  const needs: LoginNeed[] = []
  let otpauthUri: string | undefined
  if (totpRequired && (!attempt.totp || user.totp_secret === null)) {
    needs.push('totp')
    if (!enrolled) {
      // A pending secret, replaced at each such attempt until a code confirms it.
      const secret = newTotpSecret()
      await store.updateUser(user.id, {
        totp_secret: seal(store.secretKey, secret, user.id),
        totp_confirmed: 0,
        totp_last_step: null,
      })
      otpauthUri = totpUri(secret, user.organisation_name, email)
      await audit('login.totp-enrolment', { reason: 'a group requires 2FA' })
    }
  }
  if (passwordReason && !attempt.newPassword) needs.push('new-password')
  if (needs.length > 0) {
    return {
      needs,
      ...(otpauthUri ? { otpauthUri } : {}),
      ...(passwordReason ? { passwordReason } : {}),
    }
  }

  if (passwordReason) {
    const next = attempt.newPassword!
    await checkNewPassword(next, { email, name: user.name })
    if (await verifyPassword(next, user.password_salt, user.password_hash)) {
      throw new UserError('usage', 'the new password must differ from the old one')
    }
  }
  if (totpRequired) {
    const secret = open(store.secretKey, user.totp_secret!, user.id)
    const verified = verifyTotp(secret, attempt.totp!, user.totp_last_step, now)
    const check =
      verified.ok && !(await store.claimTotpStep(user.id, verified.step))
        ? ({ ok: false, reason: 'replayed' } as const)
        : verified
    if (!check.ok) {
      await fail(`TOTP code ${check.reason}`)
      throw new UserError(
        'authFailed',
        check.reason === 'replayed' ? 'this TOTP code was already used' : 'wrong TOTP code',
        check.reason === 'replayed'
          ? 'wait for the next code in your authenticator app'
          : 'check the clock of the device with the authenticator app',
      )
    }
    if (!enrolled) await audit('login.totp-enrolled')
  }
  if (passwordReason) {
    const { hash, salt } = await hashPassword(attempt.newPassword!)
    await store.updateUser(user.id, {
      password_hash: hash,
      password_salt: salt,
      must_change_password: 0,
      password_changed_at: new Date(now).toISOString(),
    })
    await audit('login.password-changed', { reason: passwordReason })
  }
  await store.updateUser(user.id, UNLOCKED)
  // Issued as of now, not as of the attempt's start: its idle clock starts when the caller gets it.
  const result = await issueToken(store, user, Date.now())
  await audit('login.success', { totp: totpRequired })
  return result
}

/** Logs in with email and password alone (tests, the demo); a UserError if the account needs more. */
export async function login(
  store: Store,
  email: string,
  password: string,
  address?: string,
): Promise<LoginResult> {
  const reply = await loginStep(store, { email, password, ...(address ? { address } : {}) })
  if (isChallenge(reply)) {
    throw new UserError(
      'usage',
      `this login also needs: ${reply.needs.join(', ')}`,
      'log in with rescue login',
    )
  }
  return reply
}

async function issueToken(store: Store, user: UserWithOrganisation, now: number): Promise<LoginResult> {
  const token = newToken()
  const expiresAt = new Date(now + TOKEN_TTL_MS).toISOString()
  const at = new Date(now).toISOString()
  await store.insertToken({
    id: newId(),
    user_id: user.id,
    token_hash: hashToken(token),
    created_at: at,
    expires_at: expiresAt,
    kind: 'login',
    name: null,
    last_used_at: at,
  })
  return { token, expiresAt, user: identityOf(user) }
}

async function recordUnknownFailure(
  store: Store,
  email: string,
  lockState: Parameters<typeof afterFailure>[0],
  now: number,
  settings: LoginSettings,
  audit: (action: AuditAction, after?: Record<string, unknown>) => Promise<void>,
): Promise<void> {
  const state = afterFailure(lockState, now, settings.lockout)
  const day = 24 * 60 * 60 * 1000
  await store.saveLoginFailures(
    email,
    state,
    new Date(now).toISOString(),
    new Date(now - Math.max(day, settings.lockout.lockoutMs)).toISOString(),
  )
  await audit('login.failure', { reason: 'no such account', failedLogins: state.failed_logins })
  if (state.locked_until && state.locked_until !== lockState.locked_until) {
    await audit('login.locked', {
      reason: `${state.failed_logins} failed logins`,
      lockedUntil: state.locked_until,
    })
  }
}

export function lockedError(email: string, until: Date): UserError {
  return new UserError(
    'locked',
    `the account ${email} is locked after too many failed logins, until ${until.toISOString()}`,
    `wait, or ask an admin to run: rescue admin users unlock ${email}`,
  )
}

export function addressRefused(address: string | undefined): UserError {
  return new UserError(
    'forbidden',
    `your group's policy does not allow access from ${address ?? 'an unknown address'}`,
    'connect from an allowed network, or ask an admin to change the allow-list (rescue admin groups set --ip-allow)',
  )
}
