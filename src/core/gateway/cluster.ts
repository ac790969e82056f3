/**
 * Many gateways on one database behave as one service. Each gateway has a row in the store with
 * the address the others reach it at, refreshed every few seconds. A waiting or paired room lives
 * on exactly one gateway, written in the store (the PIN's `room_gateway`, the session's
 * `gateway_id`) by a conditional update, so racing gateways agree on one holder. A client that
 * reaches another gateway is relayed to the holder over a WebSocket of the same protocol (this
 * gateway becomes a transparent pipe); a holder that is gone (no fresh row, or no answer) is
 * replaced by the first gateway that claims the room, and a paired session resumes there with the
 * same proof as after a network drop. Gateways trust each other's tickets by an HMAC with a key
 * derived from the store's secret key, which every gateway of one database already shares.
 * PostgreSQL is the only engine between gateways: state and guards live in its rows, and the
 * bytes of a session cross between two gateways only when its sides reached different ones.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { WebSocket } from 'ws'
import { z } from 'zod'
import { MAX_FRAME_BYTES } from '../protocol/control-messages.js'
import { HIGH_WATER_BYTES, LOW_WATER_BYTES } from './relay.js'
import type { Admission } from './rendezvous.js'
import { UserError, type ErrorCode } from '../errors.js'
import type { GatewayRow, Store } from '../store/index.js'

export const CLUSTER_PATH = '/v1/cluster/join'
export const TICKET_HEADER = 'rescue-cluster-ticket'
/** The client's address on a request one gateway forwards to another, signed like a ticket. */
export const FORWARDED_HEADER = 'rescue-cluster-forwarded-for'
/** How long a ticket is good for: one hop between two gateways, never a stored credential. */
const TICKET_TTL_MS = 30_000

/** What the holder needs to seat a client another gateway already admitted. */
const ticketSchema = z.object({
  role: z.enum(['host', 'technician']),
  via: z.enum(['pin', 'queue', 'resume', 'invite']),
  address: z.string().max(100),
  pinId: z.string().max(64).optional(),
  sessionId: z.string().max(64).optional(),
  technicianId: z.string().max(64).optional(),
  from: z.string().max(64),
  issuedAt: z.number(),
})
export type Ticket = z.infer<typeof ticketSchema>

export type Placement = { kind: 'local' } | { kind: 'remote'; upstream: Upstream }

export interface ClusterOptions {
  store: Store
  gatewayId: string
  /** How often this gateway says it is alive; three silent periods and it counts as gone. */
  heartbeatMs: number
  onLog?: (line: string) => void
}

export class Cluster {
  private readonly key: Buffer
  private beat?: NodeJS.Timeout
  /** Where the other gateways reach this one; known once it listens. */
  private url = ''

  constructor(private readonly options: ClusterOptions) {
    this.key = createHmac('sha256', options.store.secretKey).update('rescue gateway cluster').digest()
  }

  get id(): string {
    return this.options.gatewayId
  }

  /** Puts this gateway on record, reachable at `url`, and keeps it fresh. */
  async start(url: string): Promise<void> {
    this.url = url
    const now = new Date().toISOString()
    const { store, gatewayId } = this.options
    await store.registerGateway({ id: gatewayId, url, started_at: now, seen_at: now })
    this.beat = setInterval(() => {
      store.touchGateway(gatewayId, new Date().toISOString()).catch((error: unknown) => {
        this.options.onLog?.(`cannot reach the database: ${String(error)}`)
      })
    }, this.options.heartbeatMs)
    this.beat.unref()
  }

  /** Forgets the waiting rooms of gateways that are gone, and their rows after a day. */
  async tidy(now = Date.now()): Promise<void> {
    await this.options.store.forgetGoneGateways(
      this.aliveSince(now),
      new Date(now - 24 * 60 * 60 * 1000).toISOString(),
    )
  }

  /** Takes this gateway off the record (a clean stop); a killed one just goes stale. */
  async stop(): Promise<void> {
    clearInterval(this.beat)
    await this.options.store.removeGateway(this.options.gatewayId).catch(() => undefined)
  }

  /** The time before which a gateway's last word means it is gone. */
  aliveSince(now = Date.now()): string {
    return new Date(now - 3 * this.options.heartbeatMs).toISOString()
  }

  /** Another gateway that is alive, or undefined; a row at our own address is a former life of ours. */
  private async liveGateway(id: string): Promise<GatewayRow | undefined> {
    if (id === this.id) return undefined
    const row = await this.options.store.findGateway(id)
    if (!row || row.seen_at < this.aliveSince() || row.url === this.url) return undefined
    return row
  }

  /**
   * Where an admitted client is seated: here, or relayed to the gateway holding its room. Claims
   * the room for this gateway when nobody holds it or its holder is gone. `heldHere`: this gateway
   * has the PIN's room already, so its claim is on record (the second side of a pairing).
   */
  async place(admission: Admission, heldHere = false): Promise<Placement> {
    const { store } = this.options
    if (admission.via === 'channel' || (admission.via === 'pin' && heldHere)) return { kind: 'local' }
    // Bounded: each round either settles or finds the holder changed under it.
    for (let round = 0; round < 3; round++) {
      if (admission.via === 'pin') {
        if (await store.claimPinRoom(admission.pin.id, this.id)) return { kind: 'local' }
        const holder = (await store.findPinById(admission.pin.id))?.room_gateway
        if (!holder) continue
        const remote = await this.relayTo(holder, admission)
        if (remote) return remote
        if (await store.claimPinRoom(admission.pin.id, this.id, holder)) {
          this.options.onLog?.(`took over the waiting room of a PIN from gateway ${holder}, which is gone`)
          return { kind: 'local' }
        }
        continue
      }
      const row = await store.findSession(admission.sessionId)
      const holder = row?.gateway_id ?? null
      if (!row || holder === null || holder === this.id) return { kind: 'local' }
      const remote = await this.relayTo(holder, admission)
      if (remote) return remote
      if (admission.via === 'queue' || admission.via === 'invite') {
        throw new UserError(
          'failure',
          'no such session is waiting',
          'run rescue queue to see what is waiting',
        )
      }
      if (await store.claimSession(admission.sessionId, this.id, holder)) {
        this.options.onLog?.(
          `session ${admission.sessionId}: taken over from gateway ${holder}, which is gone`,
        )
        return { kind: 'local' }
      }
    }
    throw new UserError('conflict', 'the gateways could not agree where this session lives', 'try again')
  }

  /** The address of the other live gateway holding this session, if one does. */
  async holderUrl(sessionId: string): Promise<string | undefined> {
    const holder = (await this.options.store.findSession(sessionId))?.gateway_id
    return holder ? (await this.liveGateway(holder))?.url : undefined
  }

  /** A pipe to the live gateway `holder`, or undefined when it is gone or does not answer. */
  private async relayTo(holder: string, admission: Admission): Promise<Placement | undefined> {
    const gateway = await this.liveGateway(holder)
    if (!gateway) return undefined
    try {
      return { kind: 'remote', upstream: await openUpstream(gateway.url, this.ticketFor(admission)) }
    } catch (error) {
      if (error instanceof UserError) throw error
      this.options.onLog?.(`gateway ${holder} at ${gateway.url} does not answer: ${String(error)}`)
      return undefined
    }
  }

  private ticketFor(admission: Admission): string {
    const ticket: Ticket = {
      role: admission.role,
      via: admission.via === 'channel' ? 'pin' : admission.via,
      address: admission.address,
      from: this.id,
      issuedAt: Date.now(),
      ...(admission.via === 'pin' ? { pinId: admission.pin.id, technicianId: admission.technician.id } : {}),
      ...(admission.via === 'queue'
        ? { sessionId: admission.sessionId, technicianId: admission.technician.id }
        : {}),
      ...(admission.via === 'resume' || admission.via === 'invite' ? { sessionId: admission.sessionId } : {}),
    }
    const body = Buffer.from(JSON.stringify(ticket)).toString('base64url')
    return `${body}.${this.sign(body)}`
  }

  /** The header that tells the holder whose request this is, when this gateway forwards it. */
  forwardedFor(address: string, now = Date.now()): string {
    const body = Buffer.from(JSON.stringify({ address, issuedAt: now })).toString('base64url')
    return `${body}.${this.sign(body)}`
  }

  /** The client's address a gateway of this database forwarded, or undefined. */
  readForwardedFor(header: unknown, now = Date.now()): string | undefined {
    const body = this.verified(header)
    if (!body) return undefined
    const parsed = z.object({ address: z.string().max(100), issuedAt: z.number() }).safeParse(body)
    return parsed.success && Math.abs(now - parsed.data.issuedAt) <= TICKET_TTL_MS
      ? parsed.data.address
      : undefined
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url')
  }

  /** The ticket another gateway of this database sent, or undefined for anything else. */
  readTicket(header: unknown, now = Date.now()): Ticket | undefined {
    const parsed = ticketSchema.safeParse(this.verified(header))
    return parsed.success && Math.abs(now - parsed.data.issuedAt) <= TICKET_TTL_MS ? parsed.data : undefined
  }

  /** The JSON a header signed by a gateway of this database carries, or undefined. */
  private verified(header: unknown): unknown {
    if (typeof header !== 'string' || header.length > 2048) return undefined
    const [body, mac] = header.split('.')
    if (!body || !mac) return undefined
    const expected = Buffer.from(this.sign(body))
    const given = Buffer.from(mac)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown
    } catch {
      return undefined
    }
  }
}

/** An open WebSocket to the holding gateway, keeping what it says until the client is attached. */
export interface Upstream {
  socket: WebSocket
  /** Stops keeping: returns what came so far, and the close if it came too. */
  detach(): { early: { data: Buffer; isBinary: boolean }[]; closed?: { code: number; reason: Buffer } }
}

function openUpstream(gatewayUrl: string, ticket: string): Promise<Upstream> {
  const url = new URL(CLUSTER_PATH, gatewayUrl)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  const socket = new WebSocket(url, {
    headers: { [TICKET_HEADER]: ticket },
    maxPayload: MAX_FRAME_BYTES,
    handshakeTimeout: 5000,
    perMessageDeflate: false,
    // Unmasked, as rescue's clients send (see src/core/client/index.ts): this relays their frames.
    generateMask: (mask: Buffer) => void mask.fill(0),
  })
  const early: { data: Buffer; isBinary: boolean }[] = []
  let closed: { code: number; reason: Buffer } | undefined
  const keep = (data: Buffer, isBinary: boolean) => early.push({ data, isBinary })
  const keepClose = (code: number, reason: Buffer) => (closed = { code, reason })
  socket.on('message', keep)
  socket.on('close', keepClose)
  const upstream: Upstream = {
    socket,
    detach() {
      socket.off('message', keep)
      socket.off('close', keepClose)
      return { early, ...(closed ? { closed } : {}) }
    },
  }
  return new Promise((resolve, reject) => {
    socket.once('open', () => {
      socket.removeAllListeners('error')
      // Errors after the open show as a close; without a listener one would crash the gateway.
      socket.on('error', () => undefined)
      resolve(upstream)
    })
    // The holder refused the client itself (a used PIN, a failed resume): the client hears it as is.
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        reject(refusalFrom(response.statusCode ?? 502, Buffer.concat(chunks)))
        socket.terminate()
      })
    })
    socket.once('error', reject)
  })
}

function refusalFrom(status: number, body: Buffer): UserError {
  try {
    const { error } = JSON.parse(body.toString('utf8')) as {
      error: { code: ErrorCode; message: string; hint?: string }
    }
    return new UserError(error.code, error.message, error.hint)
  } catch {
    return new UserError('failure', `the gateway holding this session refused it (HTTP ${status})`)
  }
}

/** Close codes a WebSocket may send on; others (1005, 1006) mean the link just went. */
function sendable(code: number): boolean {
  return code === 1000 || code === 1001 || (code >= 3000 && code <= 4999)
}

/**
 * Joins a client's socket to its upstream, frames kept whole and text kept text, each way paused
 * while the other is backed up. A close is passed on as it came; a link that just went is cut on
 * the other side too, so the client (or the holder) sees a drop and resumes.
 */
export function pipeSockets(client: WebSocket, upstream: Upstream, heartbeatMs: number): void {
  const { socket } = upstream
  const { early, closed } = upstream.detach()
  for (const { data, isBinary } of early) client.send(data, { binary: isBinary })
  const stops = [forward(client, socket), forward(socket, client)]
  // Each leg is watched: a peer that vanished without a word is cut, and the other side resumes.
  const alive = new Map<WebSocket, boolean>([
    [client, true],
    [socket, true],
  ])
  const pings = setInterval(() => {
    for (const [leg, ok] of alive) {
      if (!ok) {
        leg.terminate()
        continue
      }
      alive.set(leg, false)
      if (leg.readyState === leg.OPEN) leg.ping()
    }
  }, heartbeatMs)
  for (const leg of alive.keys()) leg.on('pong', () => alive.set(leg, true))
  const passClose = (to: WebSocket) => (code: number, reason: Buffer) => {
    stops.forEach((stop) => stop())
    clearInterval(pings)
    if (to.readyState === to.CLOSED) return
    if (sendable(code)) {
      to.close(code, reason.toString().slice(0, 120))
      setTimeout(() => to.terminate(), 2000).unref()
    } else to.terminate()
  }
  client.on('error', () => undefined)
  client.on('close', passClose(socket))
  if (closed) passClose(client)(closed.code, closed.reason)
  else socket.on('close', passClose(client))
}

/** Forwards every frame from `from` to `to`, not reading `from` while `to` is backed up. */
function forward(from: WebSocket, to: WebSocket): () => void {
  let paused = false
  const drained = () => {
    if (paused && to.bufferedAmount <= LOW_WATER_BYTES) {
      paused = false
      from.resume()
    }
  }
  const onMessage = (data: Buffer, isBinary: boolean) => {
    if (to.readyState !== to.OPEN) return
    to.send(data, { binary: isBinary }, drained)
    if (to.bufferedAmount > HIGH_WATER_BYTES && !paused) {
      paused = true
      from.pause()
    }
  }
  from.on('message', onMessage)
  return () => {
    from.off('message', onMessage)
    if (paused) from.resume()
  }
}
