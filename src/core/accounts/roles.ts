/**
 * Who may administer what. `master` (made by admin init) may do everything; an `admin` manages the
 * users, settings and script tokens of the groups it administers, and cannot make masters; a
 * `technician` administers nothing. Every admin route asks here first.
 */
import { UserError } from '../errors.js'
import type { Store, UserWithGroups, UserWithOrganisation } from '../store/index.js'

export const roles = ['master', 'admin', 'technician'] as const
export type Role = (typeof roles)[number]

/** The caller of an admin route. */
export interface Actor {
  user: UserWithOrganisation
  role: Role
  /** Names of the groups an admin administers (every group for a master). */
  adminOf: Set<string>
  /** How the audit trail names the caller: the email, or `token:NAME` for a script token. */
  name: string
  address?: string
}

export function roleOf(user: Pick<UserWithOrganisation, 'role'>): Role {
  return (roles as readonly string[]).includes(user.role) ? (user.role as Role) : 'technician'
}

export async function actorOf(store: Store, user: UserWithOrganisation, address?: string): Promise<Actor> {
  const role = roleOf(user)
  const groups = role === 'master' ? await store.listGroups() : await store.groupsAdministeredBy(user.id)
  return {
    user,
    role,
    adminOf: new Set(role === 'technician' ? [] : groups.map((group) => group.name)),
    name: user.email,
    ...(address ? { address } : {}),
  }
}

function forbidden(what: string, hint?: string): UserError {
  return new UserError('forbidden', `you may not ${what}`, hint)
}

/** Masters and admins. */
export function requireAdmin(actor: Actor, what: string): void {
  if (actor.role === 'technician') throw forbidden(what, 'ask an admin of your organisation')
}

export function requireMaster(actor: Actor, what: string): void {
  if (actor.role !== 'master') throw forbidden(what, 'only the master admin may')
}

/** A master, or an admin of every one of `groups`. */
export function requireGroupAdmin(actor: Actor, groups: readonly string[], what: string): void {
  requireAdmin(actor, what)
  if (actor.role === 'master') return
  const outside = groups.filter((group) => !actor.adminOf.has(group))
  if (outside.length > 0) {
    throw forbidden(
      what,
      `you administer ${[...actor.adminOf].join(', ') || 'no group'}, not ${outside.join(', ')}`,
    )
  }
}

/** May `actor` change `target`'s account? Masters may change anyone; admins, non-masters wholly within their groups. */
export function requireManages(actor: Actor, target: UserWithGroups, what: string): void {
  requireAdmin(actor, what)
  if (actor.role === 'master') return
  if (roleOf(target) === 'master') throw forbidden(what, 'only a master admin may change a master admin')
  if (target.groups.length === 0) throw forbidden(what, 'the user is in none of your groups')
  requireGroupAdmin(actor, [...target.groups, ...target.adminOf], what)
}
