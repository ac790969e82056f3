/**
 * The gateway's compliance API under /v1/admin: session reports and chat transcripts, the
 * retention period, GDPR export and erasure, and the CRM webhook. Decisions (who may, what is
 * erased) live in core/compliance; this maps them onto routes.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Actor } from '../accounts/roles.js'
import * as compliance from '../compliance/index.js'
import type { SessionArtefacts } from '../compliance/artefacts.js'
import type { Store } from '../store/index.js'
import type { LogCipher } from './log-cipher.js'

export interface ComplianceRouteContext {
  store: Store
  cipher: LogCipher
  artefacts: readonly SessionArtefacts[]
  parse: <T>(schema: z.ZodType<T>, body: unknown) => T
  actor(request: FastifyRequest): Promise<Actor>
  /** The gateway's own URLs, which a webhook may not point at. */
  selfUrls(request: FastifyRequest): string[]
}

const reportQuery = z.object({
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  technician: z.string().max(320).optional(),
  group: z.string().max(63).optional(),
})
const sessionParams = z.object({ sessionId: z.string().max(64) })
const retentionBody = z.object({ days: z.number().int() })
const subjectBody = z.union([
  z.object({ technician: z.string().min(3).max(320) }).strict(),
  z.object({ session: z.string().min(1).max(64) }).strict(),
])
const webhookBody = z.object({
  url: z.string().max(4000),
  secret: z.string().max(512).optional(),
  includeChat: z.boolean().default(false),
})
const statusQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50) })

export function registerComplianceRoutes(app: FastifyInstance, context: ComplianceRouteContext): void {
  const { store, cipher, artefacts, parse, actor } = context
  const core = { store, cipher, artefacts }

  app.get('/v1/admin/reports/sessions', async (request) => {
    const query = parse(reportQuery, request.query)
    return compliance.reportSessions(core, await actor(request), query)
  })
  app.get('/v1/admin/reports/chat/:sessionId', async (request) => {
    const { sessionId } = parse(sessionParams, request.params)
    return compliance.chatTranscript(core, await actor(request), sessionId)
  })

  app.get('/v1/admin/retention', async (request) => ({
    retention: await compliance.showRetention(store, await actor(request)),
  }))
  app.put('/v1/admin/retention', async (request) => {
    const { days } = parse(retentionBody, request.body)
    return { retention: await compliance.setRetention(store, await actor(request), days) }
  })

  app.post('/v1/admin/gdpr/export', async (request) => {
    const subject = parse(subjectBody, request.body)
    return compliance.gdprExport(core, await actor(request), subject)
  })
  app.post('/v1/admin/gdpr/delete', async (request) => {
    const subject = parse(subjectBody, request.body)
    return compliance.gdprDelete(core, await actor(request), subject)
  })

  app.get('/v1/admin/webhooks', async (request) => {
    const { limit } = parse(statusQuery, request.query)
    return compliance.webhookStatus(store, await actor(request), limit)
  })
  app.put('/v1/admin/webhooks', async (request) => {
    const body = parse(webhookBody, request.body)
    return compliance.setWebhook(store, await actor(request), {
      url: body.url,
      includeChat: body.includeChat,
      ...(body.secret !== undefined ? { secret: body.secret } : {}),
      self: context.selfUrls(request),
    })
  })
  app.delete('/v1/admin/webhooks', async (request) => compliance.removeWebhook(store, await actor(request)))
}
