/**
 * Technician accounts: the organisation and its first admin, password login that issues bearer
 * tokens, token checks, and PINs for a technician's private queue. Uses the store; knows nothing
 * of HTTP (the gateway maps these results and errors onto routes).
 */
import { hashPassword, verifyPassword } from './password.js'
import { hashToken, newToken } from './token.js'
import { UserError } from '../errors.js'
import { newId, newPin } from '../ids.js'
import type { Store, UserWithOrganisation } from '../store/index.js'

export const TOKEN_TTL_MS = 7 * 24 * 60 * 60 * 1000
export const MIN_PASSWORD_LENGTH = 8
export const PIN_TTL = { defaultMs: 20 * 60 * 1000, minMs: 60 * 1000, maxMs: 24 * 60 * 60 * 1000 }

/** What a peer may learn about a technician: shown to the end user when paired. */
export interface TechnicianIdentity {
  name: string
  email: string
  organisation: string
}

export function identityOf(user: UserWithOrganisation): TechnicianIdentity {
  return { name: user.name, email: user.email, organisation: user.organisation_name }
}

const EMAIL = /^[^\s@]+@[^\s@]+$/

export function normaliseEmail(email: string): string {
  const trimmed = email.trim().toLowerCase()
  if (!EMAIL.test(trimmed)) throw new UserError('usage', `"${email}" is not an email address`)
  return trimmed
}

export interface InitOptions {
  email: string
  password: string
  name?: string
  organisation?: string
}

/** Creates the organisation and its first admin (also a technician). Runs once per data directory. */
export async function initOrganisation(store: Store, options: InitOptions): Promise<TechnicianIdentity> {
  const email = normaliseEmail(options.email)
  if (options.password.length < MIN_PASSWORD_LENGTH) {
    throw new UserError('usage', `the password must have at least ${MIN_PASSWORD_LENGTH} characters`)
  }
  if (await store.hasOrganisation()) {
    throw new UserError(
      'conflict',
      'this gateway already has an organisation',
      'log in with its admin account instead (rescue login)',
    )
  }
  const domain = email.split('@')[1] ?? 'example'
  const organisation = options.organisation?.trim() || domain
  const name = options.name?.trim() || (email.split('@')[0] ?? email)
  const { hash, salt } = await hashPassword(options.password)
  const now = new Date().toISOString()
  const organisationId = newId()
  await store.createOrganisationWithAdmin(
    { id: organisationId, name: organisation, created_at: now },
    {
      id: newId(),
      organisation_id: organisationId,
      email,
      name,
      password_hash: hash,
      password_salt: salt,
      is_admin: 1,
      created_at: now,
    },
  )
  return { name, email, organisation }
}

export interface LoginResult {
  token: string
  expiresAt: string
  user: TechnicianIdentity
}

export async function login(store: Store, email: string, password: string): Promise<LoginResult> {
  const user = await store.findUserByEmail(email.trim().toLowerCase())
  // Same error and same work whether the account exists or not, so the answer reveals nothing.
  const valid = user
    ? await verifyPassword(password, user.password_salt, user.password_hash)
    : await verifyPassword(password, 'no-such-user-salt-000000', 'AAAA').then(() => false)
  if (!user || !valid) throw new UserError('authFailed', 'wrong email or password')
  const token = newToken()
  const now = Date.now()
  const expiresAt = new Date(now + TOKEN_TTL_MS).toISOString()
  await store.insertToken({
    id: newId(),
    user_id: user.id,
    token_hash: hashToken(token),
    created_at: new Date(now).toISOString(),
    expires_at: expiresAt,
  })
  return { token, expiresAt, user: identityOf(user) }
}

/** The technician a bearer token belongs to, or a UserError saying to log in. */
export async function authenticate(store: Store, token: string | undefined): Promise<UserWithOrganisation> {
  if (!token) throw new UserError('notLoggedIn', 'no token was given', 'run rescue login first')
  const user = await store.findUserByTokenHash(hashToken(token), new Date().toISOString())
  if (!user) throw new UserError('notLoggedIn', 'the token is unknown or expired', 'run rescue login again')
  return user
}

export async function logout(store: Store, token: string): Promise<void> {
  await store.deleteToken(hashToken(token))
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
        used_at: null,
      },
      now.toISOString(),
    )
    if (inserted) return { pin, expiresAt }
  }
  throw new UserError('conflict', 'could not find a free PIN', 'try again in a minute')
}
