/**
 * Technician accounts: the organisation and its master admin, groups with a permission policy,
 * users and roles, hardened password login (lockout, TOTP, allow-lists, forced changes), token
 * checks with an idle timeout, script tokens, the admin audit trail, and PINs for a technician's
 * private queue. Uses the store; knows nothing of HTTP (the gateway maps these results and errors
 * onto routes). Each concern has its own file; this one re-exports them.
 */
import { recordAudit } from './audit-trail.js'
import { normaliseEmail, type TechnicianIdentity } from './identity.js'
import { hashPassword } from './password.js'
import { checkNewPassword } from './password-policy.js'
import { hashToken } from './token.js'
import { permissions } from '../consent/types.js'
import { UserError } from '../errors.js'
import { newId, newPin } from '../ids.js'
import type { Store } from '../store/index.js'

export * from './audit-trail.js'
export * from './channel-links.js'
export * from './authenticate.js'
export * from './groups.js'
export * from './identity.js'
export * from './lockout.js'
export * from './login.js'
export * from './password-policy.js'
export * from './policy.js'
export * from './roles.js'
export * from './script-tokens.js'
export * from './users.js'

export const PIN_TTL = { defaultMs: 20 * 60 * 1000, minMs: 60 * 1000, maxMs: 24 * 60 * 60 * 1000 }
/** The group admin init makes, allowing every permission, with the master admin in it. */
export const ADMINS_GROUP = 'admins'

export interface InitOptions {
  email: string
  password: string
  name?: string
  organisation?: string
}

/**
 * Creates the organisation, its master admin (also a technician) and the `admins` group allowing
 * every permission, with the admin in it. Runs once per data directory.
 */
export async function initOrganisation(store: Store, options: InitOptions): Promise<TechnicianIdentity> {
  const email = normaliseEmail(options.email)
  const domain = email.split('@')[1] ?? 'example'
  const organisation = options.organisation?.trim() || domain
  const name = options.name?.trim() || (email.split('@')[0] ?? email)
  await checkNewPassword(options.password, { email, name })
  if (await store.hasOrganisation()) {
    throw new UserError(
      'conflict',
      'this gateway already has an organisation',
      'log in with its admin account instead (rescue login)',
    )
  }
  const { hash, salt } = await hashPassword(options.password)
  const now = new Date().toISOString()
  const organisationId = newId()
  const adminId = newId()
  await store.createOrganisationWithAdmin(
    { id: organisationId, name: organisation, created_at: now },
    {
      id: adminId,
      organisation_id: organisationId,
      email,
      name,
      password_hash: hash,
      password_salt: salt,
      is_admin: 1,
      role: 'master',
      created_at: now,
      password_changed_at: now,
      locked_until: null,
      totp_secret: null,
      totp_last_step: null,
    },
    {
      id: newId(),
      organisation_id: organisationId,
      name: ADMINS_GROUP,
      allow: permissions.join(','),
      deny: '',
      require_2fa: 0,
      ip_allow: '',
      idle_timeout_ms: null,
      created_at: now,
      updated_at: now,
    },
  )
  await recordAudit(store, {
    actor: email,
    action: 'organisation.init',
    target: organisation,
    after: { organisation, master: email, group: ADMINS_GROUP },
  })
  return { name, email, organisation }
}

/** Revokes a login token (logging out); audited when it was live. */
export async function logout(store: Store, token: string, address?: string): Promise<void> {
  const row = await store.findLiveToken(hashToken(token), new Date().toISOString())
  await store.deleteToken(hashToken(token))
  const user = row && (await store.findUserById(row.user_id))
  if (user) {
    await recordAudit(store, {
      actor: user.email,
      action: 'logout',
      target: user.email,
      ...(address ? { address } : {}),
    })
  }
}

export interface PinResult {
  pin: string
  expiresAt: string
}

/** A single-use PIN routing an end user to this technician, unique among live PINs. */
export async function createPin(store: Store, technicianId: string, ttlMs: number): Promise<PinResult> {
  if (!Number.isFinite(ttlMs) || ttlMs < PIN_TTL.minMs || ttlMs > PIN_TTL.maxMs) {
    throw new UserError('usage', 'a PIN lives between 1 minute and 24 hours')
  }
  // A million PINs and few live at once: a handful of tries always suffices; the bound is a guard.
  for (let attempt = 0; attempt < 50; attempt++) {
    const now = new Date()
    const pin = newPin()
    const expiresAt = new Date(now.getTime() + ttlMs).toISOString()
    const inserted = await store.insertPinIfUnique(
      {
        id: newId(),
        pin,
        technician_id: technicianId,
        created_at: now.toISOString(),
        expires_at: expiresAt,
      },
      now.toISOString(),
    )
    if (inserted) return { pin, expiresAt }
  }
  throw new UserError('conflict', 'could not find a free PIN', 'try again in a minute')
}
