/**
 * The gateway (`rescue server`): HTTP routes for login and PINs, the admin API (admin-routes.ts),
 * and the two WebSocket routes where end users and technicians meet by PIN and are relayed. Every
 * authenticated call passes the caller's address, so the groups' allow-lists and idle timeouts
 * apply to HTTP and to the technician's upgrade alike. Owns the listening socket and its lifetime;
 * accounts, rooms and the relay live in their own files. Imports core only.
 */
import fs from 'node:fs'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { z } from 'zod'
import { registerAdminRoutes } from './admin-routes.js'
import { registerComplianceRoutes } from './compliance-routes.js'
import { registerRecordingRoutes } from './recordings.js'
import { LogCipher } from './log-cipher.js'
import {
  CHANNEL_HEADER,
  RESUME_HEADER,
  INVITATION_HEADER,
  CHANNEL_LINK_HEADER,
  MAX_FRAME_BYTES,
  PIN_HEADER,
  SESSION_HEADER,
  WS_PATH,
  type Role,
} from '../protocol/control-messages.js'
import { Rendezvous, type Admission, type RendezvousOptions } from './rendezvous.js'
import { addressKey, DEFAULT_ADDRESS_LIMITS, FailureLimiter, type AddressLimits } from './address-limits.js'
import { SharedFailureLimiter } from './shared-limiter.js'
import { withReadCache } from './read-cache.js'
import { takeUpgrades, type Refusal, type Seat } from './upgrades.js'
import {
  Cluster,
  CLUSTER_PATH,
  FORWARDED_HEADER,
  pipeSockets,
  TICKET_HEADER,
  type Ticket,
} from './cluster.js'
import { hashToken } from '../accounts/token.js'
import * as accounts from '../accounts/index.js'
import { BugError, toErrorBody, UserError, type ErrorCode } from '../errors.js'
import { isPinForm, newId } from '../ids.js'
import { openStore, type Group, type Store, type UserWithOrganisation } from '../store/index.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { permissions } from '../consent/types.js'
import { ComplianceJobs, SESSION_ARTEFACTS, type ComplianceJobOptions } from '../compliance/index.js'

export interface GatewayOptions {
  store: Store
  host: string
  port: number
  tls?: { certFile: string; keyFile: string }
  /** Refuse non-loopback addresses without TLS unless this is set. */
  insecure?: boolean
  heartbeatMs?: number
  onLog?: (line: string) => void
  tap?: RendezvousOptions['tap']
  /** Seals session log details at rest; a fresh key for this process when absent (tests). */
  logCipher?: LogCipher
  /** Lockout and password age; the defaults are 5 failures, 15 minutes, 90 days. */
  login?: Partial<accounts.LoginSettings>
  /** The longest a paired side whose link dropped is held for its resume (default 60 s). */
  maxResumeGraceMs?: number
  /** The longest a host restarting its computer (`rescue reboot`) is held for (default 15 min). */
  maxRebootGraceMs?: number
  /** What anyone may try without an account, per address and per group; defaults in address-limits.ts. */
  limits?: Partial<AddressLimits>
  /** Where the other gateways of the same database reach this one; its own URL when absent. */
  clusterUrl?: string
  /** False: every session's bytes stay on this gateway's relay; the sides try no direct link. */
  direct?: boolean
  /** Retention purge and webhook deliveries: their clock and timings (tests move them). */
  compliance?: Omit<ComplianceJobOptions, 'store' | 'cipher' | 'onLog'>
}

export interface Gateway {
  url: string
  /** This gateway's id among those on the same database. */
  id: string
  rendezvous: Rendezvous
  /** Ends every session (both sides are told the gateway stopped) and stops; resolves with how many it ended. */
  close(): Promise<number>
}

const httpStatus: Partial<Record<ErrorCode, number>> = {
  usage: 400,
  notLoggedIn: 401,
  authFailed: 401,
  pinInvalid: 404,
  pinUsed: 409,
  conflict: 409,
  pinExpired: 410,
  sessionEnded: 410,
  rateLimited: 429,
  forbidden: 403,
  locked: 423,
  denied: 403,
  gatewayUnreachable: 503,
}

class RateLimitedError extends UserError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('rateLimited', message, `try again in ${retryAfterSeconds} s`)
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/

/** Refuses to serve plaintext beyond this machine: tokens and PINs would cross the network in clear. */
export function assertSafeListenAddress(options: Pick<GatewayOptions, 'host' | 'tls' | 'insecure'>): void {
  if (LOOPBACK.test(options.host) || options.tls || options.insecure) return
  throw new UserError(
    'usage',
    `refusing to listen on ${options.host} without TLS: passwords, tokens and PINs would cross the network in clear`,
    'pass --tls-cert and --tls-key, or --insecure if a TLS proxy sits in front of the gateway',
  )
}

function bearer(request: { headers: IncomingHttpHeaders }): string | undefined {
  const header = request.headers.authorization
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined
}

/** The HTTP answer to a refused request, the API's and the WebSocket upgrades' alike. */
function refusalOf(error: unknown, log?: (line: string) => void): Refusal {
  if (error instanceof UserError) {
    return {
      status: httpStatus[error.code] ?? 400,
      body: toErrorBody(error),
      ...(error instanceof RateLimitedError
        ? { headers: { 'retry-after': String(error.retryAfterSeconds) } }
        : {}),
    }
  }
  const status = (error as { statusCode?: number }).statusCode
  if (status && status < 500) {
    return { status, body: toErrorBody(new UserError('usage', (error as Error).message)) }
  }
  log?.(`internal error: ${String(error)}`)
  return { status: 500, body: toErrorBody(new BugError('internal gateway error')) }
}

const loginBody = z.object({
  email: z.string().max(320),
  password: z.string().max(1024),
  totp: z.string().max(16).optional(),
  newPassword: z.string().max(1024).optional(),
})
const pinBody = z.object({ ttlSeconds: z.number().int().positive().optional() })
/** What the loser of a race for a queued session is told. */
const alreadyTaken = () =>
  new UserError(
    'conflict',
    'another technician already took this session',
    'run rescue queue to see what is waiting',
  )

const transferBody = z.object({ to: z.string().min(3).max(320) })
/** Who an invitation or a hand-over of the lead is for. */
const technicianBody = z.object({ to: z.string().min(3).max(320) })
const checkBody = z.object({ permissions: z.array(z.enum(permissions)).min(1).max(permissions.length) })

/** Starts a gateway and resolves once it listens. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  assertSafeListenAddress(options)
  const { store } = options
  // The pairing path's reads of accounts and groups, kept a moment (read-cache.ts).
  const reads = withReadCache(store)
  const loginSettings: accounts.LoginSettings = { ...accounts.DEFAULT_LOGIN_SETTINGS, ...options.login }
  const limits: AddressLimits = { ...DEFAULT_ADDRESS_LIMITS, ...options.limits }
  const logInternal = (error: unknown) => options.onLog?.(`internal error: ${String(error)}`)
  // One count per kind of attempt: a wrong PIN never blocks a channel join, nor a join a login.
  // Failures are counted in the store, so they hold across every gateway of one database; joins
  // stay per process, where counting racing joins one by one needs no round trip.
  const wrongPins = new SharedFailureLimiter(store, 'pin', limits.wrongPinsPerMinute)
  const wrongLinks = new SharedFailureLimiter(store, 'channel-link', limits.wrongLinksPerMinute)
  const joins = new FailureLimiter(limits.joinsPerMinute)
  const failedLogins = new SharedFailureLimiter(store, 'login', limits.failedLogins, limits.loginWindowMs)
  /** Until when each address's login limit is on record in the audit trail: once per stretch. */
  const loginLimitAudited = new Map<string, number>()
  const gatewayId = newId()
  const heartbeatMs = options.heartbeatMs ?? 5000
  const cluster = new Cluster({
    store,
    gatewayId,
    heartbeatMs,
    ...(options.onLog ? { onLog: options.onLog } : {}),
  })
  const logCipher = options.logCipher ?? LogCipher.random()
  const artefacts = options.compliance?.artefacts ?? SESSION_ARTEFACTS
  const complianceJobs = new ComplianceJobs({
    ...options.compliance,
    store,
    cipher: logCipher,
    artefacts,
    ...(options.onLog ? { onLog: options.onLog } : {}),
  })
  const rendezvous = new Rendezvous({
    store,
    gatewayId,
    limits,
    heartbeatMs,
    onLog: options.onLog,
    tap: options.tap,
    logCipher,
    onSessionEnded: (sessionId) => complianceJobs.sessionEnded(sessionId),
    policyFor: async (technician) => {
      const policy = await accounts.effectivePolicy(reads, technician.id)
      return { permissions: policy.permissions, recording: policy.recording }
    },
    ...(options.maxResumeGraceMs !== undefined ? { maxResumeGraceMs: options.maxResumeGraceMs } : {}),
    ...(options.maxRebootGraceMs !== undefined ? { maxRebootGraceMs: options.maxRebootGraceMs } : {}),
    ...(options.direct === false ? { direct: false } : {}),
    // A forged resume costs what a wrong PIN costs: a guesser is slowed the same way.
    onResumeRefused: (address) => void wrongPins.record(address).catch(logInternal),
  })
  /** Who is asking: the socket's address, or the one a gateway of this database forwarded for. */
  const clientAddress = (request: FastifyRequest): string =>
    cluster.readForwardedFor(request.headers[FORWARDED_HEADER]) ?? request.ip

  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    ...(options.tls
      ? { https: { cert: fs.readFileSync(options.tls.certFile), key: fs.readFileSync(options.tls.keyFile) } }
      : {}),
  }) as unknown as FastifyInstance

  app.setErrorHandler((error: unknown, _request, reply) => {
    const { status, body, headers } = refusalOf(error, options.onLog)
    return reply
      .code(status)
      .headers(headers ?? {})
      .send(body)
  })

  const parse = <T>(schema: z.ZodType<T>, body: unknown): T => {
    const result = schema.safeParse(body)
    if (!result.success) throw new UserError('usage', `malformed request: ${result.error.issues[0]?.message}`)
    return result.data
  }

  // A change made through this gateway (an admin call, a login, a logout) is seen at once by the
  // pairing path: the cache is emptied before the caller hears that it is done.
  app.addHook('onSend', (request, _reply, payload, done) => {
    if (request.method !== 'GET' && !request.url.startsWith('/v1/pins')) reads.clearReadCache()
    done(null, payload)
  })

  app.get('/healthz', () => ({ ok: true }))

  app.post('/v1/login', async (request) => {
    const attempt = parse(loginBody, request.body)
    const address = clientAddress(request)
    const wait = await failedLogins.retryAfterSeconds(address)
    if (wait !== undefined) {
      const key = addressKey(address)
      if ((loginLimitAudited.get(key) ?? 0) <= Date.now()) {
        loginLimitAudited.set(key, Date.now() + wait * 1000)
        await accounts.recordAudit(store, {
          actor: '-',
          action: 'login.rate-limited',
          target: attempt.email.trim().toLowerCase(),
          after: { reason: 'too many failed logins from this address', retryAfterSeconds: wait },
          address,
        })
      }
      throw new RateLimitedError('too many failed logins from this address', wait)
    }
    try {
      return await accounts.loginStep(store, { ...attempt, address }, loginSettings)
    } catch (error) {
      // Spraying many accounts from one address is slowed here; each account still locks on its own.
      if (error instanceof UserError && (error.code === 'authFailed' || error.code === 'locked')) {
        await failedLogins.record(address)
      }
      throw error
    }
  })

  app.post('/v1/logout', async (request) => {
    const token = bearer(request)
    if (token) await accounts.logout(store, token, clientAddress(request))
    return { ok: true }
  })

  app.get('/v1/me', async (request) => {
    const { user, policy } = await accounts.authenticateCall(store, bearer(request), {
      address: clientAddress(request),
    })
    return {
      ...accounts.identityOf(user),
      role: accounts.roleOf(user),
      groups: policy.groups,
      permissions: policy.permissions,
    }
  })

  app.post('/v1/pins', async (request) => {
    const { user, policy } = await accounts.authenticateCall(reads, bearer(request), {
      address: clientAddress(request),
    })
    if (!accounts.allows(policy, 'private')) {
      throw new UserError(
        'forbidden',
        'your groups do not allow private sessions (PINs)',
        'ask an admin to allow the permission "private" for one of your groups',
      )
    }
    const { ttlSeconds } = parse(pinBody, request.body ?? {})
    return accounts.createPin(store, user.id, ttlSeconds ? ttlSeconds * 1000 : accounts.PIN_TTL.defaultMs)
  })

  const adminActor = async (request: FastifyRequest) => {
    const address = clientAddress(request)
    const { user, name } = await accounts.authenticateCall(store, bearer(request), { address })
    return { ...(await accounts.actorOf(store, user, address)), name }
  }
  registerAdminRoutes(app, { store, parse, actor: adminActor })
  registerComplianceRoutes(app, {
    store,
    cipher: logCipher,
    artefacts,
    parse,
    actor: adminActor,
    selfUrls: (request) => [url, `${request.protocol}://${request.host}`],
  })

  registerRecordingRoutes(app, {
    store,
    parse,
    principal: (request) => accounts.authenticateCall(store, bearer(request), { address: request.ip }),
    async actor(request) {
      const { user, name } = await accounts.authenticateCall(store, bearer(request), { address: request.ip })
      return { ...(await accounts.actorOf(store, user, request.ip)), name }
    },
  })

  /** Decides, before the upgrade, whether this peer may come in, and where; failures are HTTP errors. */
  const admit = async (request: IncomingMessage, address: string, role: Role): Promise<Admission> => {
    if (role === 'host') {
      const secret = request.headers[CHANNEL_LINK_HEADER]
      if (typeof secret === 'string') return admitToChannel(secret, address)
      const invitation = request.headers[INVITATION_HEADER]
      if (typeof invitation === 'string') return admitInvitation(invitation, address)
      if (typeof request.headers[CHANNEL_HEADER] === 'string') {
        throw new UserError(
          'pinInvalid',
          'a shared queue is joined with its channel link, not a group name',
          'ask your helpdesk for its channel link',
        )
      }
    }
    const technician =
      role === 'technician' ? await accounts.authenticate(reads, bearer(request), { address }) : undefined
    const resume = request.headers[RESUME_HEADER]
    if (technician && typeof resume === 'string') await refuseRemoved(resume, technician, address)
    if (typeof resume === 'string') {
      const retryAfter = await wrongPins.retryAfterSeconds(address)
      if (retryAfter !== undefined) {
        throw new RateLimitedError('too many refused attempts from this address', retryAfter)
      }
      // Whether it may resume is asked where the session lives (place()), here or on its gateway.
      return {
        role,
        via: 'resume',
        sessionId: resume,
        address,
        ...(technician ? { technicianId: technician.id } : {}),
      }
    }
    const sessionId = request.headers[SESSION_HEADER]
    if (technician && typeof sessionId === 'string') {
      await refuseRemoved(sessionId, technician, address)
      return takeFromQueue(sessionId, technician, address)
    }
    return admitWithPin(request.headers[PIN_HEADER], role, technician, address)
  }

  /**
   * A PIN from an end user or its technician. Another technician's PIN is answered exactly as an
   * unknown one, before its state: "used" or "expired" would tell a stranger the digits are real.
   */
  const admitWithPin = async (
    digits: unknown,
    role: Role,
    technician: UserWithOrganisation | undefined,
    address: string,
  ): Promise<Admission> => {
    const retryAfter = await wrongPins.retryAfterSeconds(address)
    if (retryAfter !== undefined)
      throw new RateLimitedError('too many wrong PINs from this address', retryAfter)
    const hint = (code: ErrorCode) =>
      role === 'host'
        ? 'ask your technician for a new PIN'
        : code === 'pinInvalid'
          ? 'check the digits, or make a new PIN with rescue pin'
          : 'make a new one with rescue pin'
    const refuse = async (code: ErrorCode, message: string): Promise<never> => {
      await wrongPins.record(address)
      throw new UserError(code, message, hint(code))
    }
    // Not 6 digits guesses nothing: refused without counting against the address.
    if (typeof digits !== 'string' || !isPinForm(digits)) {
      throw new UserError('pinInvalid', 'no such PIN', hint('pinInvalid'))
    }
    const pin = await store.findNewestPin(digits)
    if (!pin || (technician && technician.id !== pin.technician_id))
      return refuse('pinInvalid', 'no such PIN')
    if (pin.used_at) return refuse('pinUsed', 'this PIN was already used')
    if (Date.parse(pin.expires_at) <= Date.now()) return refuse('pinExpired', 'this PIN has expired')
    rendezvous.assertVacant(pin.id, role)
    const owner = technician ?? (await reads.findUserById(pin.technician_id))
    if (!owner) return refuse('pinInvalid', 'no such PIN')
    if (role === 'host') admitEndUser(address)
    return { role, via: 'pin', pin, technician: owner, address }
  }

  /**
   * The last check of an end user (no account) coming in, synchronous so that racing joins are
   * counted one by one: joins a minute from the address, and for a shared queue, how many wait.
   */
  const admitEndUser = (address: string, group?: Group): void => {
    const wait = joins.retryAfterSeconds(address)
    if (wait !== undefined) throw new RateLimitedError('too many sessions started from this address', wait)
    const full = group && rendezvous.queueRefusal(group, address)
    if (full) throw new RateLimitedError(full, 60)
    joins.record(address)
  }

  /** An end user joins a group's shared queue with the secret of one of its channel links. */
  const admitToChannel = async (secret: string, address: string): Promise<Admission> => {
    const retryAfter = await wrongLinks.retryAfterSeconds(address)
    if (retryAfter !== undefined) {
      throw new RateLimitedError('too many wrong channel links from this address', retryAfter)
    }
    // Checked before the lookup too, so a flood with a stolen link costs the store nothing.
    const busy = joins.retryAfterSeconds(address)
    if (busy !== undefined) throw new RateLimitedError('too many sessions started from this address', busy)
    const link = await accounts.findChannelLink(store, secret)
    if (!link) {
      await wrongLinks.record(address)
      throw new UserError(
        'pinInvalid',
        'no such channel link (it may have been revoked)',
        'ask your helpdesk for its current channel link',
      )
    }
    admitEndUser(address, link.group)
    await store.touchChannelLink(link.linkId, new Date().toISOString())
    return { role: 'host', via: 'channel', channel: link.group, address }
  }

  /** The end user's side joins an invited technician's session with the secret its gateway link brought. */
  const admitInvitation = async (secret: string, address: string): Promise<Admission> => {
    const retryAfter = await wrongLinks.retryAfterSeconds(address)
    if (retryAfter !== undefined)
      throw new RateLimitedError('too many refused attempts from this address', retryAfter)
    const invitation = await store.findInvitationBySecretHash(hashToken(secret))
    if (!invitation || invitation.state !== 'waiting' || Date.parse(invitation.expires_at) <= Date.now()) {
      await wrongLinks.record(address)
      throw new UserError('failure', 'no such invitation is waiting')
    }
    return { role: 'host', via: 'invite', sessionId: invitation.id, address }
  }

  /**
   * A technician the end user removed, trying to come back into the session they were removed
   * from (taking it again, or resuming it): refused, and the refusal goes to the session's log.
   */
  const refuseRemoved = async (sessionId: string, technician: UserWithOrganisation, address: string) => {
    if (!/^[a-z0-9]{1,64}$/.test(sessionId)) return
    const invitation = await store.findInvitation(sessionId)
    if (invitation?.state !== 'removed' || invitation.to_id !== technician.id) return
    await rendezvous.recordAfterEnd(sessionId, 'rejoin-refused', 'technician')
    options.onLog?.(
      `session ${sessionId}: refused ${technician.email} (${address}): the end user removed them`,
    )
    throw new UserError(
      'forbidden',
      'the end user removed you from this session',
      'ask the lead technician to invite you again',
    )
  }

  /** A session whose end user waits on another live gateway of this database. */
  const waitingElsewhere = async (
    sessionId: string,
  ): Promise<{ channelId?: string; ownerId?: string } | undefined> => {
    const row = (await store.waitingElsewhere(gatewayId, cluster.aliveSince())).find(
      (candidate) => candidate.id === sessionId,
    )
    if (!row) return undefined
    return row.channel_id
      ? { channelId: row.channel_id }
      : { ...(row.technician_id ? { ownerId: row.technician_id } : {}) }
  }

  /** A technician takes a waiting session: theirs (PIN) or their group's (channel); exactly one wins a race. */
  const takeFromQueue = async (
    sessionId: string,
    technician: UserWithOrganisation,
    address: string,
  ): Promise<Admission> => {
    const waiting = rendezvous.waitingSession(sessionId) ?? (await waitingElsewhere(sessionId))
    if (!waiting) {
      const row = /^[a-z0-9]{1,64}$/.test(sessionId) ? await store.findSession(sessionId) : undefined
      if (row?.taken_by || row?.paired_at) {
        throw alreadyTaken()
      }
      throw new UserError('failure', 'no such session is waiting', 'run rescue queue to see what is waiting')
    }
    const mine = waiting.channelId
      ? (await store.groupsOfUser(technician.id)).some((group) => group.id === waiting.channelId)
      : waiting.ownerId === technician.id
    if (!mine) throw new UserError('forbidden', "this session is not in your queue or your groups' queues")
    if (!(await store.takeSession(sessionId, technician.id))) {
      throw alreadyTaken()
    }
    return { role: 'technician', via: 'queue', sessionId, technician, address }
  }

  // A request about a live session another gateway holds (/v1/sessions/…) is answered there: it
  // has the room. The caller's token goes along as it came; the holder checks it again. Other
  // routes naming a session read the shared store, which this gateway does as well.
  app.addHook('preHandler', async (request, reply) => {
    if (!request.url.startsWith('/v1/sessions/')) return
    const { sessionId } = (request.params ?? {}) as { sessionId?: string }
    if (!sessionId || !/^[a-z0-9]{1,64}$/.test(sessionId) || rendezvous.holds(sessionId)) return
    const holder = await cluster.holderUrl(sessionId)
    if (!holder) return
    const answer = await fetch(new URL(request.url, holder), {
      method: request.method,
      headers: {
        'content-type': 'application/json',
        [FORWARDED_HEADER]: cluster.forwardedFor(clientAddress(request)),
        ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
      },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    }).catch((error: unknown) => {
      options.onLog?.(`the gateway at ${holder} does not answer: ${String(error)}`)
      throw new UserError(
        'gatewayUnreachable',
        'the gateway holding this session does not answer',
        'try again shortly',
      )
    })
    return reply
      .code(answer.status)
      .header('content-type', 'application/json')
      .send(await answer.text())
  })

  // Before each request on a live session, the technician's side asks here: what the technician's
  // groups deny stops at the gateway (and, should a client skip this, at the host).
  app.post('/v1/sessions/:sessionId/check', async (request) => {
    const { user, policy } = await accounts.authenticateCall(store, bearer(request), {
      address: clientAddress(request),
    })
    const { sessionId } = request.params as { sessionId: string }
    const { permissions: asked } = parse(checkBody, request.body)
    if (!rendezvous.isPairedWith(sessionId, user.id)) {
      throw new UserError('failure', 'that is not a live session of yours')
    }
    const allowed = asked.filter((permission) => policy.permissions.includes(permission))
    if (allowed.length === 0) {
      await rendezvous.recordRefusal(sessionId, asked[0]!)
      throw new UserError(
        'forbidden',
        `your groups do not allow ${asked.join(' or ')}`,
        'ask an admin of your group to allow it (rescue admin groups set)',
      )
    }
    return { allowed }
  })

  app.post('/v1/sessions/:sessionId/transfer', async (request) => {
    const principal = await accounts.authenticateCall(store, bearer(request), {
      address: clientAddress(request),
    })
    const { sessionId } = request.params as { sessionId: string }
    const { to } = parse(transferBody, request.body)
    if (!principal.policy.permissions.includes('transfer')) {
      throw new UserError(
        'forbidden',
        'your groups do not allow transferring sessions',
        'ask an admin of your group',
      )
    }
    const target = await store.findUserByEmail(to.trim().toLowerCase())
    if (!target || target.id === principal.user.id) {
      throw new UserError('usage', `no other technician ${sanitizeForTerminal(to, 100)}`)
    }
    if (!(await accounts.effectivePolicy(store, target.id)).permissions.includes('transfer')) {
      throw new UserError('forbidden', `${target.email}'s groups do not allow taking transferred sessions`)
    }
    await rendezvous.transfer(sessionId, principal.user, target)
    await accounts.recordAudit(store, {
      actor: principal.name,
      action: 'sessions.transfer',
      target: sessionId,
      after: { to: target.email },
      address: clientAddress(request),
    })
    return { sessionId, to: accounts.identityOf(target) }
  })

  /**
   * The other technician of a request about a live session (an invitation, the lead): someone
   * else, known. The policy rule: both the asker's groups and theirs allow `transfer`, as for
   * handing a session over (an invitation hands part of it), so no new permission is needed.
   */
  const otherTechnician = async (
    principal: Awaited<ReturnType<typeof accounts.authenticateCall>>,
    to: string,
    what: string,
  ): Promise<UserWithOrganisation> => {
    const target = await store.findUserByEmail(to.trim().toLowerCase())
    if (target?.id === principal.user.id) throw new UserError('usage', `you cannot ${what} yourself`)
    if (!target || target.kind !== 'person') {
      throw new UserError(
        'usage',
        `no technician ${sanitizeForTerminal(to, 100)}`,
        'check the address (rescue admin users list)',
      )
    }
    if (!principal.policy.permissions.includes('transfer')) {
      throw new UserError(
        'forbidden',
        `your groups do not allow you to ${what} others (transfer)`,
        'ask an admin of your group',
      )
    }
    if (!(await accounts.effectivePolicy(store, target.id)).permissions.includes('transfer')) {
      throw new UserError(
        'forbidden',
        `${target.email}'s groups do not allow joining others' sessions (transfer)`,
      )
    }
    return target
  }

  app.post('/v1/sessions/:sessionId/invitations', async (request) => {
    const principal = await accounts.authenticateCall(store, bearer(request), {
      address: clientAddress(request),
    })
    const { sessionId } = request.params as { sessionId: string }
    const { to } = parse(technicianBody, request.body)
    const target = await otherTechnician(principal, to, 'invite')
    const invitee = await rendezvous.invite(rendezvous.leadSessionOf(sessionId), principal.user, target)
    await accounts.recordAudit(store, {
      actor: principal.name,
      action: 'sessions.invite',
      target: sessionId,
      after: { to: target.email, session: invitee },
      address: clientAddress(request),
    })
    return { sessionId: invitee, to: accounts.identityOf(target) }
  })

  app.post('/v1/sessions/:sessionId/lead', async (request) => {
    const principal = await accounts.authenticateCall(store, bearer(request), {
      address: clientAddress(request),
    })
    const { sessionId } = request.params as { sessionId: string }
    const { to } = parse(technicianBody, request.body)
    const target = await otherTechnician(principal, to, 'hand the lead to')
    await rendezvous.handOverLead(rendezvous.leadSessionOf(sessionId), principal.user, target)
    await accounts.recordAudit(store, {
      actor: principal.name,
      action: 'sessions.lead',
      target: sessionId,
      after: { to: target.email },
      address: clientAddress(request),
    })
    return { sessionId, lead: accounts.identityOf(target) }
  })

  app.get('/v1/queue', async (request) => {
    const { user } = await accounts.authenticateCall(store, bearer(request), {
      address: clientAddress(request),
    })
    const groups = new Set((await store.groupsOfUser(user.id)).map((group) => group.id))
    const elsewhere = (await store.waitingElsewhere(gatewayId, cluster.aliveSince()))
      .filter((row) => (row.channel_id ? groups.has(row.channel_id) : row.technician_id === user.id))
      .map((row) => ({
        sessionId: row.id,
        ...(row.channel_name ? { channel: row.channel_name } : {}),
        waitingSince: row.created_at,
        hostAddress: row.host_address ?? '',
      }))
    const sessions = [...rendezvous.queueFor(user.id, groups), ...elsewhere].sort((a, b) =>
      a.waitingSince.localeCompare(b.waitingSince),
    )
    return { sessions }
  })

  /**
   * Seats a client another gateway of this database admitted and relayed here, because this one
   * holds its room: the checks that depend on the room are made again, here, where it lives.
   */
  const admitTicket = async (ticket: Ticket): Promise<Admission> => {
    const { role, address } = ticket
    // Through the read cache, as on the gateway that admitted them a moment ago.
    const technician = ticket.technicianId ? await reads.findUserById(ticket.technicianId) : undefined
    if (ticket.via === 'resume') {
      const sessionId = ticket.sessionId ?? ''
      if (!(await rendezvous.canResume(sessionId, role, technician?.id))) {
        throw new UserError('sessionEnded', 'this session has ended and cannot be resumed')
      }
      return {
        role,
        via: 'resume',
        sessionId,
        address,
        ...(technician ? { technicianId: technician.id } : {}),
      }
    }
    if (ticket.via === 'invite') {
      const invitation = await store.findInvitation(ticket.sessionId ?? '')
      const row = invitation && (await store.findSession(invitation.id))
      if (invitation?.state !== 'waiting' || !row || row.gateway_id !== gatewayId) {
        throw new UserError('failure', 'no such invitation is waiting')
      }
      return { role: 'host', via: 'invite', sessionId: invitation.id, address }
    }
    if (!technician) throw new UserError('forbidden', 'no such technician')
    if (ticket.via === 'queue') {
      const row = await store.findSession(ticket.sessionId ?? '')
      if (!row || row.gateway_id !== gatewayId || row.taken_by !== technician.id) {
        throw new UserError(
          'failure',
          'no such session is waiting',
          'run rescue queue to see what is waiting',
        )
      }
      return { role: 'technician', via: 'queue', sessionId: row.id, technician, address }
    }
    const pin = await store.findPinById(ticket.pinId ?? '')
    if (!pin || pin.technician_id !== technician.id) throw new UserError('pinInvalid', 'no such PIN')
    if (pin.used_at) throw new UserError('pinUsed', 'this PIN was already used')
    if (Date.parse(pin.expires_at) <= Date.now()) throw new UserError('pinExpired', 'this PIN has expired')
    // A live room here means this gateway claimed it in the store to make it: no second claim.
    if (!rendezvous.holdsPinRoom(pin.id) && !(await store.claimPinRoom(pin.id, gatewayId))) {
      throw new UserError('conflict', 'the waiting room of this PIN moved to another gateway', 'try again')
    }
    rendezvous.assertVacant(pin.id, role)
    return { role, via: 'pin', pin, technician, address }
  }

  /** Seats an upgraded socket in its room here. */
  const seatHere = (admission: Admission): Seat => ({
    seat(socket: WebSocket) {
      rendezvous.join(socket, admission).catch((error: unknown) => {
        logInternal(error)
        socket.terminate()
      })
    },
  })

  /** Decides, before the upgrade, whether a WebSocket may come in, and where it goes. */
  const admitUpgrade = async (request: IncomingMessage, path: string): Promise<Seat> => {
    const address =
      cluster.readForwardedFor(request.headers[FORWARDED_HEADER]) ?? request.socket.remoteAddress ?? ''
    if (path === CLUSTER_PATH) {
      const ticket = cluster.readTicket(request.headers[TICKET_HEADER])
      if (!ticket) throw new UserError('forbidden', 'only a gateway of the same database may relay here')
      return seatHere(await admitTicket(ticket))
    }
    const role = path === WS_PATH.host ? 'host' : path === WS_PATH.technician ? 'technician' : undefined
    if (!role) throw Object.assign(new Error('no WebSocket is served at this path'), { statusCode: 404 })
    const admission = await admit(request, address, role)
    const placement = await cluster.place(
      admission,
      admission.via === 'pin' && rendezvous.holdsPinRoom(admission.pin.id),
    )
    if (placement.kind === 'remote') {
      const { upstream } = placement
      return {
        seat: (socket) => pipeSockets(socket, upstream, heartbeatMs),
        drop: () => upstream.socket.terminate(),
      }
    }
    const { technicianId } = admission as { technicianId?: string }
    if (
      admission.via === 'resume' &&
      !(await rendezvous.canResume(admission.sessionId, role, technicianId))
    ) {
      throw new UserError('sessionEnded', 'this session has ended and cannot be resumed')
    }
    return seatHere(admission)
  }
  // A plain GET on a WebSocket path meets the same checks (a guesser gains nothing by skipping
  // the upgrade: a wrong PIN counts, a limit answers 429), then is told to upgrade.
  for (const role of ['host', 'technician'] as const) {
    app.get(WS_PATH[role], async (request) => {
      await admit(request.raw, clientAddress(request), role)
      throw Object.assign(new Error('this path takes a WebSocket upgrade'), { statusCode: 426 })
    })
  }
  // Before fastify's routes: an upgrade never goes through its request cycle (upgrades.ts).
  const upgrades = takeUpgrades(app.server, {
    maxPayload: MAX_FRAME_BYTES,
    admit: admitUpgrade,
    refusal: (error) => refusalOf(error, options.onLog),
  })

  /** Where this gateway listens, once it does. */
  let url = ''
  const pruner = setInterval(() => {
    joins.prune()
    for (const limiter of [wrongPins, wrongLinks, failedLogins]) limiter.prune().catch(logInternal)
    cluster.tidy().catch(logInternal)
    for (const [key, until] of loginLimitAudited) if (until <= Date.now()) loginLimitAudited.delete(key)
  }, 60_000)
  pruner.unref()
  await app.listen({ host: options.host, port: options.port })
  const address = app.server.address()
  if (!address || typeof address === 'string') throw new BugError('the gateway has no TCP address')
  const hostInUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address
  url = `${options.tls ? 'https' : 'http'}://${hostInUrl}:${address.port}`
  await cluster.start(options.clusterUrl ?? url)
  complianceJobs.start()

  return {
    url,
    id: gatewayId,
    rendezvous,
    async close() {
      clearInterval(pruner)
      await cluster.stop()
      const ended = await rendezvous.closeAll('the gateway stopped')
      upgrades.close()
      await complianceJobs.stop()
      await app.close()
      return ended
    },
  }
}

/**
 * Opens the store (embedded in `dataDir`, or the PostgreSQL database at `databaseUrl`) and starts
 * a gateway on it; closing the gateway closes the store.
 */
export async function serve(
  options: Omit<GatewayOptions, 'store'> & { dataDir: string; databaseUrl?: string },
): Promise<Gateway> {
  assertSafeListenAddress(options)
  const store = await openStore({ dataDir: options.dataDir, databaseUrl: options.databaseUrl })
  let gateway: Gateway
  try {
    gateway = await startGateway({ ...options, store, logCipher: LogCipher.forDataDir(options.dataDir) })
  } catch (error) {
    await store.close()
    const code = (error as { code?: string }).code
    if (code === 'EADDRINUSE')
      throw new UserError(
        'conflict',
        `port ${options.port} on ${options.host} is already in use`,
        'pick another with --port, or --port 0 for a free one',
      )
    if (code === 'EACCES')
      throw new UserError('usage', `not allowed to listen on port ${options.port}`, 'use a port above 1023')
    throw error
  }
  return {
    ...gateway,
    async close() {
      const ended = await gateway.close()
      await store.close()
      return ended
    },
  }
}
