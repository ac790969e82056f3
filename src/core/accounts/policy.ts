/**
 * The permission matrix of a technician group, and what a user's groups add up to. Default deny:
 * a permission is effective when at least one of the user's groups allows it and none denies it.
 * 2FA is required when any group requires it; an address must match every group's allow-list
 * that has one (the strictest wins); the idle timeout is the smallest. Chat needs no permission.
 */
import { addressInBlocks, parseCidrList } from './cidr.js'
import { parsePermissionList, permissions, type Permission } from '../consent/types.js'
import type { Group, Store } from '../store/index.js'

/**
 * Whether shells and commands must be recorded (recordings/): `off`, `required` (output, sizes,
 * checkpoints), `required-input` (the technician's keystrokes too). The strictest group wins.
 */
export const recordingModes = ['off', 'required', 'required-input'] as const
export type RecordingMode = (typeof recordingModes)[number]

function recordingMode(value: string | undefined): RecordingMode {
  return (recordingModes as readonly string[]).includes(value ?? '') ? (value as RecordingMode) : 'off'
}

/** One group's policy, decoded from its row. */
export interface GroupPolicy {
  name: string
  allow: Permission[]
  deny: Permission[]
  require2fa: boolean
  /** CIDR blocks; empty for no restriction. */
  ipAllow: string[]
  idleTimeoutMs?: number
  /** `off` when absent. */
  recording?: RecordingMode
}

/** What a user may do, from all their groups. */
export interface EffectivePolicy {
  /** The groups it was combined from, by name. */
  groups: string[]
  /** In the order of `permissions` in consent/types.ts. */
  permissions: Permission[]
  /** The end user may grant everything with one prompt (the `single-prompt` permission). */
  singlePrompt: boolean
  require2fa: boolean
  /** One list per group that restricts addresses; an address must match each. */
  ipAllow: string[][]
  idleTimeoutMs?: number
  recording: RecordingMode
}

/** A group row as a policy; a stored name that is no longer a permission is an error, never ignored. */
export function groupPolicy(group: Group): GroupPolicy {
  return {
    name: group.name,
    allow: parsePermissionList(group.allow),
    deny: parsePermissionList(group.deny),
    require2fa: group.require_2fa === 1,
    ipAllow: parseCidrList(group.ip_allow),
    ...(group.idle_timeout_ms ? { idleTimeoutMs: group.idle_timeout_ms } : {}),
    recording: recordingMode(group.recording),
  }
}

/** Combines groups' policies; no groups at all means no permissions. */
export function combinePolicies(groups: readonly GroupPolicy[]): EffectivePolicy {
  const denied = new Set(groups.flatMap((group) => group.deny))
  const allowed = new Set(groups.flatMap((group) => group.allow))
  const effective = permissions.filter((name) => allowed.has(name) && !denied.has(name))
  const timeouts = groups.flatMap((group) => (group.idleTimeoutMs ? [group.idleTimeoutMs] : []))
  return {
    groups: groups.map((group) => group.name),
    permissions: effective,
    singlePrompt: effective.includes('single-prompt'),
    require2fa: groups.some((group) => group.require2fa),
    ipAllow: groups.filter((group) => group.ipAllow.length > 0).map((group) => group.ipAllow),
    ...(timeouts.length > 0 ? { idleTimeoutMs: Math.min(...timeouts) } : {}),
    recording:
      recordingModes[
        Math.max(0, ...groups.map((group) => recordingModes.indexOf(group.recording ?? 'off')))
      ]!,
  }
}

/**
 * The policy combined from one list of group rows, kept while that list is: the gateway's read
 * cache (gateway/read-cache.ts) hands out the same list for a moment, and a pairing asks for its
 * technician's policy three times. Callers never change a policy, so sharing one is safe.
 */
const combined = new WeakMap<readonly Group[], EffectivePolicy>()

/** The effective policy of a user (or of a script token's account), from the store. */
export async function effectivePolicy(store: Store, userId: string): Promise<EffectivePolicy> {
  const groups = await store.groupsOfUser(userId)
  let policy = combined.get(groups)
  if (!policy) {
    policy = combinePolicies(groups.map(groupPolicy))
    combined.set(groups, policy)
  }
  return policy
}

/** Whether the policy lets a call come from `address`: it must lie in every group's allow-list. */
export function addressAllowed(
  policy: Pick<EffectivePolicy, 'ipAllow'>,
  address: string | undefined,
): boolean {
  return policy.ipAllow.every((blocks) => addressInBlocks(address, blocks))
}

export function allows(policy: Pick<EffectivePolicy, 'permissions'>, permission: Permission): boolean {
  return policy.permissions.includes(permission)
}
