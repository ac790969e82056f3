/**
 * The CRM webhook: at the end of each session the gateway POSTs a JSON summary to the
 * organisation's URL, signed with HMAC-SHA256 over the timestamp and the body
 * (`Rescue-Signature: t=UNIX,v1=HEX`), so a receiver can tell it came from the gateway and refuse
 * replays (old timestamps, a delivery id seen before). Failures are retried with exponential
 * backoff for up to a day; the queue lives in the store, so a restarted gateway (or another one on
 * the same PostgreSQL) carries on. Redirects are not followed; only http(s) URLs, never the
 * gateway itself. Chat is left out unless the organisation's webhook setting includes it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import { recordAudit } from '../accounts/audit-trail.js'
import { requireMaster, type Actor } from '../accounts/roles.js'
import { open, seal } from '../accounts/secret-box.js'
import { UserError } from '../errors.js'
import type { LogCipher } from '../gateway/log-cipher.js'
import { newId } from '../ids.js'
import { ComplianceStore, type WebhookDeliveryRow } from '../store/compliance.js'
import type { Store } from '../store/index.js'
import { listArtefacts, SESSION_ARTEFACTS, type SessionArtefacts } from './artefacts.js'
import { summarise } from './reports.js'
import { chatOf, openEvents } from './session-log.js'

export const SIGNATURE_HEADER = 'rescue-signature'
export const DELIVERY_HEADER = 'rescue-delivery'
export const EVENT_HEADER = 'rescue-event'
/** How far a receiver should let the timestamp stray from its clock before refusing (a replay). */
export const SIGNATURE_TOLERANCE_SECONDS = 300

export interface WebhookTiming {
  /** The first retry's delay; each next one doubles (30 s). */
  baseDelayMs: number
  /** The longest delay between two attempts (1 h). */
  maxDelayMs: number
  /** How long after the session's end the gateway keeps trying (a day). */
  maxAgeMs: number
  /** How long one attempt may take (10 s). */
  timeoutMs: number
}

export const DEFAULT_WEBHOOK_TIMING: WebhookTiming = {
  baseDelayMs: 30_000,
  maxDelayMs: 3_600_000,
  maxAgeMs: 86_400_000,
  timeoutMs: 10_000,
}

/** The header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function signWebhook(secret: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex')
  return `t=${timestampSeconds},v1=${mac}`
}

/**
 * What a receiver does (docs/compliance.md): the signature matches the raw body it got, and the
 * timestamp is within `toleranceSeconds` of its clock. It should also remember delivery ids.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined,
  body: string,
  nowSeconds = Math.floor(Date.now() / 1000),
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): boolean {
  const match = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header ?? '')
  if (!match) return false
  const timestamp = Number(match[1])
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false
  const expected = Buffer.from(signWebhook(secret, timestamp, body).split('v1=')[1]!, 'hex')
  return timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'))
}

const LOOPBACK_OR_ANY =
  /^(127\.\d+\.\d+\.\d+|0\.0\.0\.0|\[?::1?\]?|localhost|\[::ffff:127\.\d+\.\d+\.\d+\])$/i

const portOf = (url: URL): string => url.port || (url.protocol === 'https:' ? '443' : '80')

/**
 * Checks a webhook URL: http(s), no credentials in it, not the gateway itself. `self` holds the
 * gateway's own URLs (where it listens, and the address the admin reached it at).
 */
export function checkWebhookUrl(text: string, self: readonly string[]): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UserError(
      'usage',
      `"${text.slice(0, 200)}" is not a URL`,
      'give it as https://crm.example/hooks/rescue',
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError('usage', `a webhook URL must be http:// or https://, not ${url.protocol}`)
  }
  if (text.length > 2000) throw new UserError('usage', 'the webhook URL is longer than 2000 characters')
  if (url.username || url.password) {
    throw new UserError(
      'usage',
      'the webhook URL must not hold a user name or password',
      'the receiver checks the Rescue-Signature header instead (docs/compliance.md)',
    )
  }
  for (const own of self) {
    let gateway: URL
    try {
      gateway = new URL(own)
    } catch {
      continue
    }
    if (portOf(gateway) !== portOf(url)) continue
    const host = url.hostname.toLowerCase()
    if (host === gateway.hostname.toLowerCase() || LOOPBACK_OR_ANY.test(host)) {
      throw new UserError(
        'usage',
        `the webhook URL points at this gateway (${url.host})`,
        'give the address of your CRM or of the service that receives session summaries',
      )
    }
  }
  return url
}

export interface WebhookSettings {
  url: string | null
  includeChat: boolean
}

async function organisationId(store: Store): Promise<string> {
  const organisation = await store.findOrganisation()
  if (!organisation)
    throw new UserError('failure', 'this gateway has no organisation yet', 'run rescue admin init')
  return organisation.id
}

const secretContext = (organisation: string) => `webhook:${organisation}`

/** Sets the organisation's webhook; returns the secret when the gateway made it (shown once). */
export async function setWebhook(
  store: Store,
  actor: Actor,
  options: { url: string; secret?: string; includeChat: boolean; self: readonly string[] },
): Promise<WebhookSettings & { secret?: string }> {
  requireMaster(actor, 'set the webhook')
  const url = checkWebhookUrl(options.url, options.self).toString()
  if (options.secret !== undefined && options.secret.length < 16) {
    throw new UserError(
      'usage',
      'a webhook secret has at least 16 characters',
      'leave it out and the gateway makes one',
    )
  }
  const made = options.secret === undefined ? randomBytes(32).toString('base64url') : undefined
  const secret = options.secret ?? made!
  const organisation = await organisationId(store)
  const compliance = new ComplianceStore(store)
  const before = await compliance.settings(organisation)
  await compliance.saveSettings(organisation, {
    webhook_url: url,
    webhook_secret: seal(store.secretKey, secret, secretContext(organisation)),
    webhook_include_chat: options.includeChat ? 1 : 0,
    updated_at: new Date().toISOString(),
  })
  await recordAudit(store, {
    actor: actor.name,
    action: 'webhooks.set',
    target: 'webhook',
    before: { url: before?.webhook_url ?? null, includeChat: before?.webhook_include_chat === 1 },
    after: { url, includeChat: options.includeChat, generated: made !== undefined },
    ...(actor.address ? { address: actor.address } : {}),
  })
  return { url, includeChat: options.includeChat, ...(made ? { secret: made } : {}) }
}

/** Stops sending summaries; those still queued are given up. */
export async function removeWebhook(store: Store, actor: Actor): Promise<WebhookSettings> {
  requireMaster(actor, 'remove the webhook')
  const organisation = await organisationId(store)
  const compliance = new ComplianceStore(store)
  const before = await compliance.settings(organisation)
  await compliance.saveSettings(organisation, {
    webhook_url: null,
    webhook_secret: null,
    webhook_include_chat: 0,
    updated_at: new Date().toISOString(),
  })
  await recordAudit(store, {
    actor: actor.name,
    action: 'webhooks.remove',
    target: 'webhook',
    before: { url: before?.webhook_url ?? null },
    ...(actor.address ? { address: actor.address } : {}),
  })
  return { url: null, includeChat: false }
}

/** One delivery as `rescue admin webhooks status` shows it. */
export interface DeliveryStatus {
  id: string
  sessionId: string
  state: 'pending' | 'delivered' | 'failed'
  attempts: number
  createdAt: string
  lastAttemptAt: string | null
  lastStatus: number | null
  lastError: string | null
  nextAttemptAt: string | null
  deliveredAt: string | null
}

function deliveryStatus(row: WebhookDeliveryRow): DeliveryStatus {
  const state = row.delivered_at ? 'delivered' : row.gave_up_at ? 'failed' : 'pending'
  return {
    id: row.id,
    sessionId: row.session_id,
    state,
    attempts: row.attempts,
    createdAt: row.created_at,
    lastAttemptAt: row.last_attempt_at,
    lastStatus: row.last_status,
    lastError: row.last_error,
    nextAttemptAt: state === 'pending' ? row.next_attempt_at : null,
    deliveredAt: row.delivered_at,
  }
}

export async function webhookStatus(
  store: Store,
  actor: Actor,
  limit = 50,
): Promise<WebhookSettings & { deliveries: DeliveryStatus[] }> {
  requireMaster(actor, 'read the webhook status')
  const compliance = new ComplianceStore(store)
  const settings = await compliance.settings(await organisationId(store))
  const deliveries = await compliance.recentDeliveries(limit)
  return {
    url: settings?.webhook_url ?? null,
    includeChat: settings?.webhook_include_chat === 1,
    deliveries: deliveries.map(deliveryStatus),
  }
}

export interface WebhookContext {
  store: Store
  cipher: LogCipher
  artefacts?: readonly SessionArtefacts[]
  timing?: Partial<WebhookTiming>
  onLog?: (line: string) => void
}

/** Queues the summary of a session that ended, when the organisation has a webhook. */
export async function enqueueSessionSummary(
  context: WebhookContext,
  sessionId: string,
  now: Date,
): Promise<boolean> {
  const { store } = context
  const organisation = await store.findOrganisation()
  if (!organisation) return false
  const compliance = new ComplianceStore(store)
  const settings = await compliance.settings(organisation.id)
  if (!settings?.webhook_url) return false
  const row = await store.findSession(sessionId)
  if (!row) return false
  const events = openEvents(await store.listSessionEvents(sessionId), context.cipher)
  const artefacts = await listArtefacts(store, [sessionId], context.artefacts ?? SESSION_ARTEFACTS)
  const summary = await summarise(context, row, events, artefacts)
  const id = newId()
  const body = JSON.stringify({
    type: 'session.ended',
    deliveryId: id,
    organisation: organisation.name,
    session: summary,
    ...(settings.webhook_include_chat === 1 ? { chat: chatOf(events) } : {}),
  })
  await compliance.insertDelivery({
    id,
    session_id: sessionId,
    url: settings.webhook_url,
    body: seal(store.secretKey, body, `delivery:${id}`),
    attempts: 0,
    created_at: now.toISOString(),
    next_attempt_at: now.toISOString(),
    last_attempt_at: null,
    last_status: null,
    last_error: null,
    delivered_at: null,
    gave_up_at: null,
  })
  return true
}

/** One POST; resolves with the status, or an error text when there was no answer. */
function post(
  url: URL,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<{ status?: number; location?: string; error?: string }> {
  return new Promise((resolve) => {
    const transport = url.protocol === 'https:' ? https : http
    const request = transport.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        timeout: timeoutMs,
      },
      (response) => {
        // Drained, not kept: a receiver's answer is never stored or shown beyond its status.
        response.resume()
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, location: response.headers.location }),
        )
        response.on('error', (error) => resolve({ error: error.message }))
      },
    )
    request.on('timeout', () => request.destroy(new Error(`no answer in ${timeoutMs} ms`)))
    request.on('error', (error) => resolve({ error: (error as { code?: string }).code ?? error.message }))
    request.end(body)
  })
}

/** The delay before attempt `attempt + 1`, after `attempt` failures: doubling, capped. */
export function backoffMs(attempt: number, timing: WebhookTiming): number {
  return Math.min(timing.baseDelayMs * 2 ** Math.max(0, attempt - 1), timing.maxDelayMs)
}

/**
 * Tries every delivery whose time has come, once each. Several gateways may run this at once:
 * each delivery is claimed first, so only one of them sends it.
 */
export async function deliverDue(context: WebhookContext, now: Date): Promise<number> {
  const timing = { ...DEFAULT_WEBHOOK_TIMING, ...context.timing }
  const { store } = context
  const compliance = new ComplianceStore(store)
  const due = await compliance.dueDeliveries(now.toISOString(), 20)
  if (due.length === 0) return 0
  const organisation = await store.findOrganisation()
  const settings = organisation ? await compliance.settings(organisation.id) : undefined
  let sent = 0
  for (const row of due) {
    const lease = new Date(now.getTime() + timing.timeoutMs * 2).toISOString()
    if (!(await compliance.claimDelivery(row, lease))) continue
    const attempts = row.attempts + 1
    const giveUpAt = Date.parse(row.created_at) + timing.maxAgeMs
    const finish = async (outcome: { status?: number; error?: string; delivered: boolean }) => {
      const next = now.getTime() + backoffMs(attempts, timing)
      const givingUp = !outcome.delivered && next > giveUpAt
      await compliance.updateDelivery(row.id, {
        attempts,
        last_attempt_at: now.toISOString(),
        last_status: outcome.status ?? null,
        last_error: outcome.error ?? null,
        ...(outcome.delivered ? { delivered_at: now.toISOString() } : {}),
        ...(givingUp ? { gave_up_at: now.toISOString() } : {}),
        next_attempt_at: new Date(next).toISOString(),
      })
      if (!outcome.delivered) {
        context.onLog?.(
          `webhook delivery ${row.id} (session ${row.session_id}) failed: ${outcome.error ?? `HTTP ${outcome.status}`}${givingUp ? '; giving up' : ''}`,
        )
      }
    }
    if (!settings?.webhook_url || !settings.webhook_secret || !organisation) {
      await finish({ delivered: false, error: 'the webhook was removed' })
      await compliance.updateDelivery(row.id, { gave_up_at: now.toISOString() })
      continue
    }
    const url = new URL(settings.webhook_url)
    const secret = open(store.secretKey, settings.webhook_secret, secretContext(organisation.id))
    const body = open(store.secretKey, row.body, `delivery:${row.id}`)
    const timestamp = Math.floor(now.getTime() / 1000)
    const answer = await post(
      url,
      {
        'content-type': 'application/json',
        'user-agent': 'rescue-gateway',
        [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
        [DELIVERY_HEADER]: row.id,
        [EVENT_HEADER]: 'session.ended',
      },
      body,
      timing.timeoutMs,
    )
    if (answer.status !== undefined && answer.status >= 200 && answer.status < 300) {
      await finish({ delivered: true, status: answer.status })
      sent++
    } else if (answer.status !== undefined && answer.status >= 300 && answer.status < 400) {
      await finish({
        delivered: false,
        status: answer.status,
        error: `HTTP ${answer.status}: redirects are not followed${answer.location ? ` (to ${answer.location.slice(0, 200)})` : ''}`,
      })
    } else if (answer.status !== undefined) {
      await finish({ delivered: false, status: answer.status, error: `HTTP ${answer.status}` })
    } else {
      await finish({ delivered: false, error: answer.error ?? 'no answer' })
    }
  }
  return sent
}
