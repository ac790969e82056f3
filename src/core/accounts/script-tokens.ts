/**
 * Script tokens: bearer tokens for automation, scoped to one group and revocable. Each stands for
 * an account of kind `script` named `token:NAME`, member of that group only, so it authenticates
 * like a login token and its permissions are exactly the group's. It has no password, no idle
 * timeout (it has its own lifetime) and is stored hashed like every token.
 */
import { recordAudit } from './audit-trail.js'
import { at, checkName, findGroups } from './groups.js'
import { requireAdmin, requireGroupAdmin, type Actor } from './roles.js'
import { hashToken, newToken } from './token.js'
import { UserError } from '../errors.js'
import { newId } from '../ids.js'
import type { Store } from '../store/index.js'

export const SCRIPT_TOKEN_TTL = { minMs: 60 * 60 * 1000, maxMs: 366 * 24 * 60 * 60 * 1000 }

/** The account name of a script token. */
export const scriptAccount = (name: string) => `token:${name}`

export interface ScriptTokenSummary {
  name: string
  group: string | null
  createdAt: string
  expiresAt: string
  lastUsedAt?: string
}

export interface NewScriptToken extends ScriptTokenSummary {
  /** Shown once; the gateway keeps only its hash. */
  token: string
}

export async function createScriptToken(
  store: Store,
  actor: Actor,
  options: { name: string; group: string; ttlMs: number },
): Promise<NewScriptToken> {
  checkName(options.name, 'token')
  requireGroupAdmin(actor, [options.group], `create tokens for the group ${options.group}`)
  if (
    !Number.isFinite(options.ttlMs) ||
    options.ttlMs < SCRIPT_TOKEN_TTL.minMs ||
    options.ttlMs > SCRIPT_TOKEN_TTL.maxMs
  ) {
    throw new UserError('usage', 'a script token lives between 1 hour and 366 days')
  }
  const [group] = await findGroups(store, [options.group])
  const account = scriptAccount(options.name)
  if (await store.findUserByEmail(account))
    throw new UserError(
      'conflict',
      `a token named ${options.name} exists already`,
      'revoke it first, or pick another --name',
    )
  const organisation = await store.findOrganisation()
  if (!organisation || !group)
    throw new UserError('usage', 'this gateway has no organisation', 'run rescue admin init')
  const now = new Date()
  const userId = newId()
  await store.insertUser(
    {
      id: userId,
      organisation_id: organisation.id,
      email: account,
      name: `${options.name} (script token)`,
      // No password can match an empty hash; the login route also refuses accounts of kind script.
      password_hash: '',
      password_salt: '',
      is_admin: 0,
      role: 'technician',
      kind: 'script',
      created_at: now.toISOString(),
      password_changed_at: null,
      locked_until: null,
      totp_secret: null,
      totp_last_step: null,
    },
    [group.id],
  )
  const token = newToken()
  const expiresAt = new Date(now.getTime() + options.ttlMs).toISOString()
  await store.insertToken({
    id: newId(),
    user_id: userId,
    token_hash: hashToken(token),
    created_at: now.toISOString(),
    expires_at: expiresAt,
    kind: 'script',
    name: options.name,
    last_used_at: null,
  })
  const summary = { name: options.name, group: group.name, createdAt: now.toISOString(), expiresAt }
  await recordAudit(store, {
    actor: actor.name,
    action: 'tokens.create',
    target: account,
    after: summary,
    ...at(actor),
  })
  return { ...summary, token }
}

/** Masters see every script token; admins, those of their groups. */
export async function listScriptTokens(store: Store, actor: Actor): Promise<ScriptTokenSummary[]> {
  requireAdmin(actor, 'list script tokens')
  const rows = await store.listScriptTokens()
  return rows
    .filter((row) => actor.role === 'master' || (row.group !== null && actor.adminOf.has(row.group)))
    .map((row) => ({
      name: row.name,
      group: row.group,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      ...(row.last_used_at ? { lastUsedAt: row.last_used_at } : {}),
    }))
}

/** Revokes a script token at once: its account goes, and with it the token and its PINs. */
export async function revokeScriptToken(
  store: Store,
  actor: Actor,
  name: string,
): Promise<ScriptTokenSummary> {
  requireAdmin(actor, 'revoke script tokens')
  const found = (await store.listScriptTokens()).find((row) => row.name === name)
  if (!found)
    throw new UserError(
      'usage',
      `there is no script token named ${name}`,
      'list them with rescue admin tokens list',
    )
  requireGroupAdmin(actor, found.group ? [found.group] : [], `revoke the token ${name}`)
  await store.deleteUser(found.user_id)
  const summary = { name, group: found.group, createdAt: found.created_at, expiresAt: found.expires_at }
  await recordAudit(store, {
    actor: actor.name,
    action: 'tokens.revoke',
    target: scriptAccount(name),
    before: summary,
    ...at(actor),
  })
  return summary
}
