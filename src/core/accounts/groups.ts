/**
 * Technician groups and their policy, as admins change them: create (masters), set (masters and
 * the group's admins), list. Every change goes to the audit trail with the policy before and after.
 */
import { recordAudit } from './audit-trail.js'
import { addressInBlocks } from './cidr.js'
import { groupPolicy, type GroupPolicy, type RecordingMode } from './policy.js'
import { requireAdmin, requireGroupAdmin, requireMaster, type Actor } from './roles.js'
import type { Permission } from '../consent/types.js'
import { UserError } from '../errors.js'
import { newId } from '../ids.js'
import type { Group, Store } from '../store/index.js'

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/

/** Group and script token names: lower case letters, digits, dot, dash, underscore; 63 at most. */
export function checkName(name: string, what: string): string {
  if (!NAME.test(name)) {
    throw new UserError(
      'usage',
      `"${name}" is not a valid ${what} name`,
      'use lower-case letters, digits, ".", "-" and "_" (up to 63), starting with a letter or digit',
    )
  }
  return name
}

/** A group as admins see it. */
export interface GroupSummary extends GroupPolicy {
  singlePrompt: boolean
  members: string[]
  admins: string[]
}

/** What `groups set` changes; absent fields stay as they are. */
export interface GroupChanges {
  /** Replaces the allowed permissions. */
  allow?: Permission[]
  /** Replaces the denied permissions. */
  deny?: Permission[]
  /** Adds (true) or removes (false) `single-prompt` from the allowed permissions. */
  singlePrompt?: boolean
  require2fa?: boolean
  /** Replaces the allow-list (normalised CIDR blocks); empty lifts the restriction. */
  ipAllow?: string[]
  /** null removes the idle timeout. */
  idleTimeoutMs?: number | null
  /** Whether shells and commands must be recorded (policy.ts). */
  recording?: RecordingMode
}

async function summarise(store: Store, group: Group): Promise<GroupSummary> {
  const [members, admins] = await Promise.all([
    store.membersOfGroup(group.name),
    store.db
      .selectFrom('group_admins')
      .innerJoin('users', 'users.id', 'group_admins.user_id')
      .select('users.email')
      .where('group_admins.group_id', '=', group.id)
      .orderBy('users.email')
      .execute(),
  ])
  const policy = groupPolicy(group)
  return {
    ...policy,
    singlePrompt: policy.allow.includes('single-prompt') && !policy.deny.includes('single-prompt'),
    members: members.map((user) => user.email),
    admins: admins.map((row) => row.email),
  }
}

async function findGroup(store: Store, name: string): Promise<Group> {
  const group = await store.findGroupByName(name)
  if (!group)
    throw new UserError('usage', `there is no group "${name}"`, 'list them with rescue admin groups list')
  return group
}

/** Finds every named group, or says which does not exist. */
export async function findGroups(store: Store, names: readonly string[]): Promise<Group[]> {
  return Promise.all([...new Set(names)].map((name) => findGroup(store, name)))
}

export async function addGroup(store: Store, actor: Actor, name: string): Promise<GroupSummary> {
  requireMaster(actor, 'create groups')
  checkName(name, 'group')
  if (await store.findGroupByName(name)) throw new UserError('conflict', `the group "${name}" exists already`)
  const organisation = await store.findOrganisation()
  if (!organisation) throw new UserError('usage', 'this gateway has no organisation', 'run rescue admin init')
  const now = new Date().toISOString()
  await store.insertGroup({
    id: newId(),
    organisation_id: organisation.id,
    name,
    allow: '',
    deny: '',
    require_2fa: 0,
    ip_allow: '',
    idle_timeout_ms: null,
    created_at: now,
    updated_at: now,
  })
  const summary = await summarise(store, await findGroup(store, name))
  await recordAudit(store, {
    actor: actor.name,
    action: 'groups.add',
    target: name,
    after: policyRecord(summary),
    ...at(actor),
  })
  return summary
}

export async function setGroup(
  store: Store,
  actor: Actor,
  name: string,
  changes: GroupChanges,
): Promise<GroupSummary> {
  requireGroupAdmin(actor, [name], `change the group ${name}`)
  const group = await findGroup(store, name)
  const before = groupPolicy(group)
  let allow = changes.allow ?? before.allow
  let deny = changes.deny ?? before.deny
  if (changes.singlePrompt === true) {
    if (changes.deny?.includes('single-prompt')) {
      throw new UserError('usage', '--single-prompt and --deny single-prompt contradict each other')
    }
    allow = [...new Set([...allow, 'single-prompt' as const])]
    deny = deny.filter((permission) => permission !== 'single-prompt')
  } else if (changes.singlePrompt === false) {
    allow = allow.filter((permission) => permission !== 'single-prompt')
  }
  const both = allow.filter((permission) => deny.includes(permission))
  if (both.length > 0) {
    throw new UserError(
      'usage',
      `${both.join(', ')} cannot be both allowed and denied`,
      'name each permission in --allow or --deny, not both',
    )
  }
  const ipAllow = changes.ipAllow ?? before.ipAllow
  // A master or admin who is a member must not cut off the address they are working from.
  const isMember = (await store.groupsOfUser(actor.user.id)).some((g) => g.id === group.id)
  if (changes.ipAllow && ipAllow.length > 0 && isMember && !addressInBlocks(actor.address, ipAllow)) {
    throw new UserError(
      'usage',
      `this allow-list would lock you out: your address ${actor.address ?? '(unknown)'} is not in it`,
      'include your own address or network in --ip-allow',
    )
  }
  const idle = changes.idleTimeoutMs === undefined ? (group.idle_timeout_ms ?? null) : changes.idleTimeoutMs
  await store.updateGroup(group.id, {
    allow: allow.join(','),
    deny: deny.join(','),
    require_2fa: (changes.require2fa ?? before.require2fa) ? 1 : 0,
    ip_allow: ipAllow.join(','),
    idle_timeout_ms: idle,
    ...(changes.recording ? { recording: changes.recording } : {}),
    updated_at: new Date().toISOString(),
  })
  const after = await summarise(store, await findGroup(store, name))
  await recordAudit(store, {
    actor: actor.name,
    action: 'groups.set',
    target: name,
    before: policyRecord(before),
    after: policyRecord(after),
    ...at(actor),
  })
  return after
}

/** Masters see every group; admins, the groups they administer. */
export async function listGroups(store: Store, actor: Actor): Promise<GroupSummary[]> {
  requireAdmin(actor, 'list groups')
  const groups = (await store.listGroups()).filter(
    (group) => actor.role === 'master' || actor.adminOf.has(group.name),
  )
  return Promise.all(groups.map((group) => summarise(store, group)))
}

/** The policy part of a group, as the audit trail records it. */
function policyRecord(policy: GroupPolicy): Record<string, unknown> {
  return {
    allow: policy.allow,
    deny: policy.deny,
    require2fa: policy.require2fa,
    ipAllow: policy.ipAllow,
    idleTimeoutMs: policy.idleTimeoutMs ?? null,
    recording: policy.recording ?? 'off',
  }
}

export function at(actor: Actor): { address?: string } {
  return actor.address ? { address: actor.address } : {}
}
