/**
 * Technician accounts as admins manage them: add (with a one-time password the first login must
 * change), list, remove, unlock, reset the password (and optionally the TOTP enrolment). Masters
 * manage everyone; admins, the users wholly within their groups. Each change is audited.
 */
import { recordAudit } from './audit-trail.js'
import { at, findGroups } from './groups.js'
import { normaliseEmail } from './identity.js'
import { lockedUntil, UNLOCKED } from './lockout.js'
import { hashPassword } from './password.js'
import { oneTimePassword } from './password-policy.js'
import {
  requireAdmin,
  requireGroupAdmin,
  requireManages,
  requireMaster,
  roleOf,
  type Actor,
  type Role,
} from './roles.js'
import { UserError } from '../errors.js'
import { newId } from '../ids.js'
import type { Store, UserWithGroups } from '../store/index.js'

/** An account as admins see it: never its hash, salt or TOTP secret. */
export interface UserSummary {
  email: string
  name: string
  role: Role
  groups: string[]
  adminOf: string[]
  /** When the lock ends; absent when not locked. */
  lockedUntil?: string
  failedLogins: number
  totp: 'enrolled' | 'none'
  mustChangePassword: boolean
  passwordChangedAt?: string
  createdAt: string
}

export function summariseUser(user: UserWithGroups, now = Date.now()): UserSummary {
  const until = lockedUntil(user, now)
  return {
    email: user.email,
    name: user.name,
    role: roleOf(user),
    groups: user.groups,
    adminOf: user.adminOf,
    ...(until ? { lockedUntil: until.toISOString() } : {}),
    failedLogins: user.failed_logins,
    totp: user.totp_confirmed === 1 ? 'enrolled' : 'none',
    mustChangePassword: user.must_change_password === 1,
    ...(user.password_changed_at ? { passwordChangedAt: user.password_changed_at } : {}),
    createdAt: user.created_at,
  }
}

export interface AddUserOptions {
  email: string
  name?: string
  /** Groups the user is a member of (their permissions). */
  groups: string[]
  role?: Role
  /** For role admin: the groups they administer. */
  adminOf?: string[]
}

/** A new account and the one-time password to hand over once. */
export interface NewPassword {
  user: UserSummary
  oneTimePassword: string
}

async function findManagedUser(
  store: Store,
  actor: Actor,
  email: string,
  what: string,
): Promise<UserWithGroups> {
  const address = normaliseEmail(email)
  const found = await store.findUserByEmail(address)
  // Admins learn nothing about accounts outside their groups: same answer as for no account.
  if (!found || found.kind !== 'person') {
    requireAdmin(actor, what)
    throw new UserError('usage', `there is no user ${address}`, 'list them with rescue admin users list')
  }
  const user = await store.withGroups(found)
  requireManages(actor, user, what)
  return user
}

export async function addUser(store: Store, actor: Actor, options: AddUserOptions): Promise<NewPassword> {
  const email = normaliseEmail(options.email)
  const role = options.role ?? 'technician'
  const adminOf = role === 'admin' ? (options.adminOf ?? []) : []
  requireAdmin(actor, 'add users')
  if (role === 'master') requireMaster(actor, 'create a master admin')
  if (role === 'admin' && adminOf.length === 0) {
    throw new UserError('usage', 'an admin needs the groups they administer', 'name them with --admin-of')
  }
  if (role !== 'admin' && options.adminOf?.length) {
    throw new UserError('usage', '--admin-of is only for --role admin')
  }
  if (actor.role !== 'master' && options.groups.length === 0) {
    throw new UserError('usage', 'name at least one of your groups with --group')
  }
  requireGroupAdmin(actor, [...options.groups, ...adminOf], 'add users to groups you do not administer')
  const [memberOf, administers] = await Promise.all([
    findGroups(store, options.groups),
    findGroups(store, adminOf),
  ])
  if (await store.findUserByEmail(email)) throw new UserError('conflict', `the user ${email} exists already`)
  const organisation = await store.findOrganisation()
  if (!organisation) throw new UserError('usage', 'this gateway has no organisation', 'run rescue admin init')
  const password = oneTimePassword()
  const { hash, salt } = await hashPassword(password)
  const now = new Date().toISOString()
  await store.insertUser(
    {
      id: newId(),
      organisation_id: organisation.id,
      email,
      name: options.name?.trim() || (email.split('@')[0] ?? email),
      password_hash: hash,
      password_salt: salt,
      is_admin: role === 'master' ? 1 : 0,
      role,
      kind: 'person',
      must_change_password: 1,
      password_changed_at: now,
      created_at: now,
      locked_until: null,
      totp_secret: null,
      totp_last_step: null,
    },
    memberOf.map((group) => group.id),
    administers.map((group) => group.id),
  )
  const user = summariseUser(await store.withGroups((await store.findUserByEmail(email))!))
  await recordAudit(store, {
    actor: actor.name,
    action: 'users.add',
    target: email,
    after: userRecord(user),
    ...at(actor),
  })
  return { user, oneTimePassword: password }
}

/** What `users set` changes; absent fields stay as they are. */
export interface UserChanges {
  name?: string
  /** Replaces the groups the user is a member of. */
  groups?: string[]
  role?: Role
  /** Replaces the groups an admin administers (for role admin). */
  adminOf?: string[]
}

/** Changes a user's name, groups or role; admins only within their groups, and never to master. */
export async function setUser(
  store: Store,
  actor: Actor,
  email: string,
  changes: UserChanges,
): Promise<UserSummary> {
  const user = await findManagedUser(store, actor, email, 'change users')
  const before = summariseUser(user)
  const role = changes.role ?? before.role
  const groups = changes.groups ?? before.groups
  const adminOf = role === 'admin' ? (changes.adminOf ?? before.adminOf) : []
  if (role === 'master' && before.role !== 'master') requireMaster(actor, 'make a master admin')
  if (user.id === actor.user.id && role !== before.role) {
    throw new UserError('usage', 'you cannot change your own role', 'ask another master admin')
  }
  if (role === 'admin' && adminOf.length === 0) {
    throw new UserError('usage', 'an admin needs the groups they administer', 'name them with --admin-of')
  }
  if (role !== 'admin' && changes.adminOf?.length)
    throw new UserError('usage', '--admin-of is only for --role admin')
  if (actor.role !== 'master' && groups.length === 0) {
    throw new UserError('usage', 'a user you manage must stay in at least one of your groups')
  }
  requireGroupAdmin(actor, [...groups, ...adminOf], 'put users in groups you do not administer')
  const [memberOf, administers] = await Promise.all([findGroups(store, groups), findGroups(store, adminOf)])
  await store.updateUser(user.id, {
    role,
    is_admin: role === 'master' ? 1 : 0,
    ...(changes.name?.trim() ? { name: changes.name.trim() } : {}),
  })
  await store.setUserGroups(
    user.id,
    memberOf.map((group) => group.id),
    administers.map((group) => group.id),
  )
  const after = summariseUser(await store.withGroups((await store.findUserById(user.id))!))
  await recordAudit(store, {
    actor: actor.name,
    action: 'users.set',
    target: user.email,
    before: userRecord(before),
    after: userRecord(after),
    ...at(actor),
  })
  return after
}

/** Masters see every account; admins, the accounts in their groups. */
export async function listUsers(store: Store, actor: Actor): Promise<UserSummary[]> {
  requireAdmin(actor, 'list users')
  const users = await store.listUsers('person')
  const now = Date.now()
  return users
    .filter((user) => actor.role === 'master' || user.groups.some((group) => actor.adminOf.has(group)))
    .map((user) => summariseUser(user, now))
}

export async function removeUser(store: Store, actor: Actor, email: string): Promise<UserSummary> {
  const user = await findManagedUser(store, actor, email, 'remove users')
  if (user.id === actor.user.id) {
    throw new UserError('usage', 'you cannot remove your own account', 'ask another admin')
  }
  const before = summariseUser(user)
  await store.deleteUser(user.id)
  await recordAudit(store, {
    actor: actor.name,
    action: 'users.remove',
    target: user.email,
    before: userRecord(before),
    ...at(actor),
  })
  return before
}

export async function unlockUser(store: Store, actor: Actor, email: string): Promise<UserSummary> {
  const user = await findManagedUser(store, actor, email, 'unlock users')
  const before = summariseUser(user)
  await store.updateUser(user.id, UNLOCKED)
  const after = summariseUser(await store.withGroups((await store.findUserById(user.id))!))
  await recordAudit(store, {
    actor: actor.name,
    action: 'users.unlock',
    target: user.email,
    before: { lockedUntil: before.lockedUntil ?? null, failedLogins: before.failedLogins },
    after: { lockedUntil: after.lockedUntil ?? null, failedLogins: after.failedLogins },
    ...at(actor),
  })
  return after
}

/** A new one-time password (the next login must change it); logs the user out everywhere; `reset2fa` forgets the TOTP enrolment. */
export async function resetPassword(
  store: Store,
  actor: Actor,
  email: string,
  options: { reset2fa?: boolean } = {},
): Promise<NewPassword> {
  const user = await findManagedUser(store, actor, email, 'reset passwords')
  const before = summariseUser(user)
  const password = oneTimePassword()
  const { hash, salt } = await hashPassword(password)
  await store.updateUser(user.id, {
    password_hash: hash,
    password_salt: salt,
    must_change_password: 1,
    password_changed_at: new Date().toISOString(),
    ...UNLOCKED,
    ...(options.reset2fa ? { totp_secret: null, totp_confirmed: 0, totp_last_step: null } : {}),
  })
  await store.db.deleteFrom('tokens').where('user_id', '=', user.id).execute()
  const after = summariseUser(await store.withGroups((await store.findUserById(user.id))!))
  await recordAudit(store, {
    actor: actor.name,
    action: 'users.reset-password',
    target: user.email,
    before: {
      mustChangePassword: before.mustChangePassword,
      totp: before.totp,
      lockedUntil: before.lockedUntil ?? null,
    },
    after: {
      mustChangePassword: after.mustChangePassword,
      totp: after.totp,
      lockedUntil: after.lockedUntil ?? null,
    },
    ...at(actor),
  })
  return { user: after, oneTimePassword: password }
}

function userRecord(user: UserSummary): Record<string, unknown> {
  return { email: user.email, name: user.name, role: user.role, groups: user.groups, adminOf: user.adminOf }
}
