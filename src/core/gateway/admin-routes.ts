/**
 * The gateway's admin API under /v1/admin: users, groups, script tokens, channel links and the
 * audit trail.
 * Each route authenticates the caller (token, idle timeout, allow-list) and leaves the decision of
 * who may do what to core/accounts (roles.ts), which also writes the audit trail.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import * as accounts from '../accounts/index.js'
import { parseCidrList } from '../accounts/cidr.js'
import { parsePermissionList } from '../consent/types.js'
import type { Store } from '../store/index.js'

export interface AdminRouteContext {
  store: Store
  parse: <T>(schema: z.ZodType<T>, body: unknown) => T
  /** The authenticated caller, or a UserError. */
  actor(request: FastifyRequest): Promise<accounts.Actor>
}

const email = z.string().max(320)
const name = z.string().max(63)
const names = z.array(name).max(100)

const addUserBody = z.object({
  email,
  name: z.string().max(200).optional(),
  groups: names.default([]),
  role: z.enum(accounts.roles).optional(),
  adminOf: names.optional(),
})
const setUserBody = z.object({
  name: z.string().max(200).optional(),
  groups: names.optional(),
  role: z.enum(accounts.roles).optional(),
  adminOf: names.optional(),
})
const emailParams = z.object({ email })
const nameParams = z.object({ name })
const resetBody = z.object({ reset2fa: z.boolean().optional() })
const groupBody = z.object({ name })
const setGroupBody = z.object({
  // Names are checked by parsePermissionList: an unknown one is an error, never ignored.
  allow: z.array(z.string().max(40)).max(50).optional(),
  deny: z.array(z.string().max(40)).max(50).optional(),
  singlePrompt: z.boolean().optional(),
  require2fa: z.boolean().optional(),
  ipAllow: z.array(z.string().max(64)).max(200).optional(),
  idleTimeoutMs: z
    .number()
    .int()
    .min(1000)
    .max(7 * 24 * 3600 * 1000)
    .nullable()
    .optional(),
  recording: z.enum(accounts.recordingModes).optional(),
})
const tokenBody = z.object({ name, group: name, ttlSeconds: z.number().int().positive() })
const channelBody = z.object({ group: name, name: name.optional() })
const auditQuery = z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(100) })

export function registerAdminRoutes(app: FastifyInstance, context: AdminRouteContext): void {
  const { store, parse, actor } = context

  app.post('/v1/admin/users', async (request) => {
    const body = parse(addUserBody, request.body)
    return accounts.addUser(store, await actor(request), body)
  })
  app.get('/v1/admin/users', async (request) => ({
    users: await accounts.listUsers(store, await actor(request)),
  }))
  app.delete('/v1/admin/users/:email', async (request) => {
    const { email } = parse(emailParams, request.params)
    return { user: await accounts.removeUser(store, await actor(request), email) }
  })
  app.patch('/v1/admin/users/:email', async (request) => {
    const { email } = parse(emailParams, request.params)
    const body = parse(setUserBody, request.body)
    return { user: await accounts.setUser(store, await actor(request), email, body) }
  })
  app.post('/v1/admin/users/:email/unlock', async (request) => {
    const { email } = parse(emailParams, request.params)
    return { user: await accounts.unlockUser(store, await actor(request), email) }
  })
  app.post('/v1/admin/users/:email/reset-password', async (request) => {
    const { email } = parse(emailParams, request.params)
    const { reset2fa } = parse(resetBody, request.body ?? {})
    return accounts.resetPassword(store, await actor(request), email, { reset2fa })
  })

  app.post('/v1/admin/groups', async (request) => {
    const { name } = parse(groupBody, request.body)
    return { group: await accounts.addGroup(store, await actor(request), name) }
  })
  app.get('/v1/admin/groups', async (request) => ({
    groups: await accounts.listGroups(store, await actor(request)),
  }))
  app.patch('/v1/admin/groups/:name', async (request) => {
    const { name } = parse(nameParams, request.params)
    const body = parse(setGroupBody, request.body)
    const caller = await actor(request)
    return {
      group: await accounts.setGroup(store, caller, name, {
        ...(body.allow ? { allow: parsePermissionList(body.allow.join(',')) } : {}),
        ...(body.deny ? { deny: parsePermissionList(body.deny.join(',')) } : {}),
        ...(body.singlePrompt !== undefined ? { singlePrompt: body.singlePrompt } : {}),
        ...(body.require2fa !== undefined ? { require2fa: body.require2fa } : {}),
        ...(body.ipAllow ? { ipAllow: parseCidrList(body.ipAllow.join(',')) } : {}),
        ...(body.idleTimeoutMs !== undefined ? { idleTimeoutMs: body.idleTimeoutMs } : {}),
        ...(body.recording ? { recording: body.recording } : {}),
      }),
    }
  })

  app.post('/v1/admin/tokens', async (request) => {
    const { name, group, ttlSeconds } = parse(tokenBody, request.body)
    return accounts.createScriptToken(store, await actor(request), { name, group, ttlMs: ttlSeconds * 1000 })
  })
  app.get('/v1/admin/tokens', async (request) => ({
    tokens: await accounts.listScriptTokens(store, await actor(request)),
  }))
  app.delete('/v1/admin/tokens/:name', async (request) => {
    const { name } = parse(nameParams, request.params)
    return { token: await accounts.revokeScriptToken(store, await actor(request), name) }
  })

  app.post('/v1/admin/channels', async (request) => {
    const body = parse(channelBody, request.body)
    return accounts.createChannelLink(store, await actor(request), body)
  })
  app.get('/v1/admin/channels', async (request) => ({
    channels: await accounts.listChannelLinks(store, await actor(request)),
  }))
  app.delete('/v1/admin/channels/:name', async (request) => {
    const { name } = parse(nameParams, request.params)
    return { channel: await accounts.revokeChannelLink(store, await actor(request), name) }
  })

  app.get('/v1/admin/audit', async (request) => {
    const { limit } = parse(auditQuery, request.query)
    const caller = await actor(request)
    accounts.requireAdmin(caller, 'read the audit trail')
    return { entries: await accounts.readAudit(store, { limit, ...(await auditScope(store, caller)) }) }
  })
}

/** Masters read the whole trail; an admin, what concerns their groups, their members and their tokens. */
async function auditScope(store: Store, actor: accounts.Actor): Promise<{ about?: string[] }> {
  if (actor.role === 'master') return {}
  const groups = [...actor.adminOf]
  const members = await Promise.all(groups.map((group) => store.membersOfGroup(group)))
  return { about: [actor.name, ...groups, ...members.flat().map((user) => user.email)] }
}
