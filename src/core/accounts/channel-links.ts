/**
 * Channel links: the secret that lets an end user into a group's shared queue, as the reference
 * product's channel links do. A bare group name lets nobody in. Admins make one per group (or
 * several, named), it is shown once and stored hashed (256 random bits, like a token), and
 * revoking it stops it at once. Every change goes to the audit trail, never the secret.
 */
import { recordAudit } from './audit-trail.js'
import { at, checkName, findGroups } from './groups.js'
import { requireAdmin, requireGroupAdmin, type Actor } from './roles.js'
import { hashToken, newToken } from './token.js'
import { UserError } from '../errors.js'
import { newId } from '../ids.js'
import type { Group, Store } from '../store/index.js'

export interface ChannelLinkSummary {
  name: string
  group: string
  createdAt: string
  createdBy: string
  lastUsedAt?: string
}

export interface NewChannelLink extends ChannelLinkSummary {
  /** Shown once; the gateway keeps only its hash. The client makes the link from it and its server. */
  secret: string
}

export async function createChannelLink(
  store: Store,
  actor: Actor,
  options: { group: string; name?: string },
): Promise<NewChannelLink> {
  requireGroupAdmin(actor, [options.group], `create channel links for the group ${options.group}`)
  const [group] = await findGroups(store, [options.group])
  if (!group) throw new UserError('usage', `there is no group "${options.group}"`)
  const name = checkName(options.name ?? group.name, 'channel link')
  if ((await store.listChannelLinks()).some((link) => link.name === name)) {
    throw new UserError(
      'conflict',
      `a channel link named ${name} exists already`,
      'revoke it first (rescue admin channels revoke), or pick another --name',
    )
  }
  const secret = newToken()
  const createdAt = new Date().toISOString()
  await store.insertChannelLink({
    id: newId(),
    group_id: group.id,
    name,
    secret_hash: hashToken(secret),
    created_at: createdAt,
    created_by: actor.name,
    last_used_at: null,
  })
  const summary: ChannelLinkSummary = { name, group: group.name, createdAt, createdBy: actor.name }
  await recordAudit(store, {
    actor: actor.name,
    action: 'channels.create',
    target: group.name,
    after: { ...summary },
    ...at(actor),
  })
  return { ...summary, secret }
}

/** Masters see every link; admins, those of their groups. */
export async function listChannelLinks(store: Store, actor: Actor): Promise<ChannelLinkSummary[]> {
  requireAdmin(actor, 'list channel links')
  const rows = await store.listChannelLinks()
  return rows
    .filter((row) => actor.role === 'master' || actor.adminOf.has(row.group))
    .map((row) => ({
      name: row.name,
      group: row.group,
      createdAt: row.created_at,
      createdBy: row.created_by,
      ...(row.last_used_at ? { lastUsedAt: row.last_used_at } : {}),
    }))
}

/** Revokes a link at once: end users already waiting stay; nobody new gets in with it. */
export async function revokeChannelLink(
  store: Store,
  actor: Actor,
  name: string,
): Promise<ChannelLinkSummary> {
  requireAdmin(actor, 'revoke channel links')
  const found = (await store.listChannelLinks()).find((row) => row.name === name)
  if (!found) {
    throw new UserError(
      'usage',
      `there is no channel link named ${name}`,
      'list them with rescue admin channels list',
    )
  }
  requireGroupAdmin(actor, [found.group], `revoke the channel link ${name}`)
  await store.deleteChannelLink(found.id)
  const summary = {
    name,
    group: found.group,
    createdAt: found.created_at,
    createdBy: found.created_by,
  }
  await recordAudit(store, {
    actor: actor.name,
    action: 'channels.revoke',
    target: found.group,
    before: summary,
    ...at(actor),
  })
  return summary
}

/** The group whose shared queue this secret opens (and the link's id), or undefined for an unknown or revoked one. */
export async function findChannelLink(
  store: Store,
  secret: string,
): Promise<{ group: Group; linkId: string } | undefined> {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(secret)) return undefined
  return store.findGroupByChannelSecret(hashToken(secret))
}
