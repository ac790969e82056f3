/**
 * The technician's and end user's side of the gateway's HTTP API and WebSocket upgrade. Turns
 * every refusal into a UserError carrying the gateway's message and exit code. Imports core only.
 */
import http from 'node:http'
import https from 'node:https'
import WebSocket from 'ws'
import { z } from 'zod'
import { ExitCode, UserError, type ErrorCode } from '../errors.js'
import {
  CHANNEL_LINK_HEADER,
  MAX_FRAME_BYTES,
  PIN_HEADER,
  RESUME_HEADER,
  INVITATION_HEADER,
  SESSION_HEADER,
  WS_PATH,
  type Entry,
  type Role,
} from '../protocol/control-messages.js'
import type { Permission } from '../consent/types.js'
import type { QueuedSession } from '../protocol/control-messages.js'
import type {
  ChatLine,
  DeliveryStatus,
  GdprErasure,
  GdprExport,
  GdprSubject,
  RetentionSetting,
  SessionSummary,
  WebhookSettings,
} from '../compliance/index.js'
import type {
  AuditRecord,
  ChannelLinkSummary,
  NewChannelLink,
  GroupSummary,
  LoginReply,
  NewPassword,
  NewScriptToken,
  PinResult,
  Role as AccountRole,
  ScriptTokenSummary,
  TechnicianIdentity,
  UserSummary,
} from '../accounts/index.js'

/**
 * Undocumented, for tests: the local address to connect from. Linux routes all of 127/8 to the
 * loopback interface, so binding 127.0.0.2 shows the gateway a second client address on one machine
 * (the IP allow-list tests).
 */
function bindAddress(): { localAddress?: string } {
  const address = process.env.RESCUE_BIND_ADDRESS
  return address ? { localAddress: address } : {}
}

/**
 * A zero masking key, with which ws neither masks our frames nor copies them to do so, and the
 * gateway does not unmask them (issue 12: random masks, the masking and its copy were about a
 * tenth of each end's CPU in a transfer). Masking (RFC 6455 section 10.3) keeps script in a web
 * page from choosing the bytes a proxy sees on the wire; no web page writes to this socket: the
 * client is this process, and what it sends is SSH ciphertext in the session's frames, so a zero
 * key gives an attacker no bytes to choose.
 */
const zeroMask = (mask: Buffer): void => void mask.fill(0)

const REQUEST_TIMEOUT_MS = 15_000
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024

const errorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }),
})

/** Checks and normalises a gateway URL given by a user. */
export function parseServerUrl(server: string): URL {
  let url: URL
  try {
    url = new URL(server)
  } catch {
    throw new UserError(
      'usage',
      `"${server}" is not a URL`,
      'give the gateway as http://HOST:PORT or https://HOST',
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError('usage', `the gateway URL must start with http:// or https://, not ${url.protocol}`)
  }
  return url
}

/**
 * The gateways a `--server` names: one URL, or several of one service separated by commas, tried
 * in turn when one cannot be reached (gateways on one database share every session).
 */
export function serverAddresses(server: string): URL[] {
  const urls = server
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(parseServerUrl)
  if (urls.length === 0) throw new UserError('usage', 'no gateway URL given', 'give it as http://HOST:PORT')
  return urls
}

/** A `--server` value checked and normalised: each gateway's origin, joined by commas. */
export function normaliseServers(server: string): string {
  return serverAddresses(server)
    .map((url) => url.origin)
    .join(',')
}

/** Which gateway of each list answered last: tried first next time. */
const lastReached = new Map<string, number>()

/** Runs `attempt` against the gateways of `server` in turn until one can be reached. */
async function eachGateway<T>(server: string, attempt: (url: URL) => Promise<T>): Promise<T> {
  const urls = serverAddresses(server)
  const first = lastReached.get(server) ?? 0
  for (let tried = 0; ; tried++) {
    const index = (first + tried) % urls.length
    try {
      const result = await attempt(urls[index]!)
      lastReached.set(server, index)
      return result
    } catch (error) {
      const unreachable = error instanceof UserError && error.code === 'gatewayUnreachable'
      if (!unreachable || tried + 1 >= urls.length) throw error
    }
  }
}

function unreachable(server: string, cause: unknown): UserError {
  const detail =
    (cause as { code?: string; cause?: { code?: string } }).cause?.code ?? (cause as { code?: string }).code
  return new UserError(
    'gatewayUnreachable',
    `cannot reach the gateway at ${server}${detail ? ` (${detail})` : ''}`,
    'check the address, and that rescue server is running there',
  )
}

/** Retry-After as whole seconds; the HTTP-date form and anything odd count as absent. */
function seconds(retryAfter: string | null | undefined): number | undefined {
  return retryAfter && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : undefined
}

/** Maps a gateway's error body (or a bare status) to the UserError it stands for. */
export function errorFromResponse(status: number, body: unknown, retryAfter?: string | null): UserError {
  const parsed = errorBody.safeParse(body)
  if (parsed.success) {
    const { code, message, hint } = parsed.data.error
    // Own keys only ('toString' is no error code), and an error never maps to success.
    const known = Object.hasOwn(ExitCode, code) && code !== 'ok' ? (code as ErrorCode) : 'failure'
    const wait = seconds(retryAfter)
    return new UserError(known, message, hint ?? (wait ? `try again in ${wait} s` : undefined))
  }
  if (status === 429) {
    return new UserError(
      'rateLimited',
      'the gateway is refusing requests for now',
      `try again in ${seconds(retryAfter) ?? 60} s`,
    )
  }
  return new UserError('failure', `the gateway answered HTTP ${status}`)
}

interface RawResponse {
  status: number
  body: string
  retryAfter: string | null
}

/** One HTTP exchange with node:http(s) (which, unlike fetch, can bind the local address). */
function exchange(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<RawResponse> {
  const transport = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = transport.request(
      url,
      { method, headers, timeout: REQUEST_TIMEOUT_MS, ...bindAddress() },
      (response) => {
        const chunks: Buffer[] = []
        let size = 0
        response.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('the answer is too large'))
          else chunks.push(chunk)
        })
        response.on('end', () => {
          const retryAfter = response.headers['retry-after']
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
          })
        })
        response.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
    req.on('error', reject)
    req.end(body)
  })
}

async function request<T>(
  server: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<T> {
  const json = body === undefined ? undefined : JSON.stringify(body)
  const response = await eachGateway(server, async (base) => {
    try {
      return await exchange(
        new URL(path, base),
        method,
        {
          accept: 'application/json',
          ...(json === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(json)) }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        json,
      )
    } catch (error) {
      throw unreachable(base.origin, error)
    }
  })
  let payload: unknown
  try {
    payload = JSON.parse(response.body)
  } catch {
    payload = undefined
  }
  if (response.status < 200 || response.status > 299) {
    throw errorFromResponse(response.status, payload, response.retryAfter)
  }
  return payload as T
}

/** What GET /v1/me says about the caller. */
export interface Me extends TechnicianIdentity {
  role: AccountRole
  groups: string[]
  permissions: string[]
}

export interface LoginRequest {
  email: string
  password: string
  totp?: string
  newPassword?: string
}

export interface GroupSettings {
  allow?: string[]
  deny?: string[]
  singlePrompt?: boolean
  require2fa?: boolean
  ipAllow?: string[]
  idleTimeoutMs?: number | null
  recording?: 'off' | 'required' | 'required-input'
}

const segment = encodeURIComponent

export const api = {
  login: (server: string, attempt: LoginRequest) => request<LoginReply>(server, 'POST', '/v1/login', attempt),
  logout: (server: string, token: string) => request<{ ok: true }>(server, 'POST', '/v1/logout', {}, token),
  me: (server: string, token: string) => request<Me>(server, 'GET', '/v1/me', undefined, token),
  /** Whether the technician's groups allow any of `permissions` on their live session; 403 `denied` when not. */
  checkPermissions: (server: string, token: string, sessionId: string, permissions: Permission[]) =>
    request<{ allowed: Permission[] }>(
      server,
      'POST',
      `/v1/sessions/${encodeURIComponent(sessionId)}/check`,
      { permissions },
      token,
    ),
  transfer: (server: string, token: string, sessionId: string, to: string) =>
    request<{ sessionId: string; to: TechnicianIdentity }>(
      server,
      'POST',
      `/v1/sessions/${encodeURIComponent(sessionId)}/transfer`,
      { to },
      token,
    ),
  invite: (server: string, token: string, sessionId: string, to: string) =>
    request<{ sessionId: string; to: TechnicianIdentity }>(
      server,
      'POST',
      `/v1/sessions/${encodeURIComponent(sessionId)}/invitations`,
      { to },
      token,
    ),
  handOverLead: (server: string, token: string, sessionId: string, to: string) =>
    request<{ sessionId: string; lead: TechnicianIdentity }>(
      server,
      'POST',
      `/v1/sessions/${encodeURIComponent(sessionId)}/lead`,
      { to },
      token,
    ),
  queue: (server: string, token: string) =>
    request<{ sessions: QueuedSession[] }>(server, 'GET', '/v1/queue', undefined, token),
  createPin: (server: string, token: string, ttlSeconds?: number) =>
    request<PinResult>(server, 'POST', '/v1/pins', ttlSeconds === undefined ? {} : { ttlSeconds }, token),
  admin: {
    addUser: (
      server: string,
      token: string,
      user: { email: string; name?: string; groups: string[]; role?: AccountRole; adminOf?: string[] },
    ) => request<NewPassword>(server, 'POST', '/v1/admin/users', user, token),
    listUsers: (server: string, token: string) =>
      request<{ users: UserSummary[] }>(server, 'GET', '/v1/admin/users', undefined, token),
    removeUser: (server: string, token: string, email: string) =>
      request<{ user: UserSummary }>(server, 'DELETE', `/v1/admin/users/${segment(email)}`, undefined, token),
    setUser: (
      server: string,
      token: string,
      email: string,
      changes: { name?: string; groups?: string[]; role?: AccountRole; adminOf?: string[] },
    ) => request<{ user: UserSummary }>(server, 'PATCH', `/v1/admin/users/${segment(email)}`, changes, token),
    unlockUser: (server: string, token: string, email: string) =>
      request<{ user: UserSummary }>(server, 'POST', `/v1/admin/users/${segment(email)}/unlock`, {}, token),
    resetPassword: (server: string, token: string, email: string, reset2fa: boolean) =>
      request<NewPassword>(
        server,
        'POST',
        `/v1/admin/users/${segment(email)}/reset-password`,
        { reset2fa },
        token,
      ),
    addGroup: (server: string, token: string, name: string) =>
      request<{ group: GroupSummary }>(server, 'POST', '/v1/admin/groups', { name }, token),
    listGroups: (server: string, token: string) =>
      request<{ groups: GroupSummary[] }>(server, 'GET', '/v1/admin/groups', undefined, token),
    setGroup: (server: string, token: string, name: string, settings: GroupSettings) =>
      request<{ group: GroupSummary }>(server, 'PATCH', `/v1/admin/groups/${segment(name)}`, settings, token),
    createToken: (
      server: string,
      token: string,
      options: { name: string; group: string; ttlSeconds: number },
    ) => request<NewScriptToken>(server, 'POST', '/v1/admin/tokens', options, token),
    listTokens: (server: string, token: string) =>
      request<{ tokens: ScriptTokenSummary[] }>(server, 'GET', '/v1/admin/tokens', undefined, token),
    revokeToken: (server: string, token: string, name: string) =>
      request<{ token: ScriptTokenSummary }>(
        server,
        'DELETE',
        `/v1/admin/tokens/${segment(name)}`,
        undefined,
        token,
      ),
    createChannelLink: (server: string, token: string, options: { group: string; name?: string }) =>
      request<NewChannelLink>(server, 'POST', '/v1/admin/channels', options, token),
    listChannelLinks: (server: string, token: string) =>
      request<{ channels: ChannelLinkSummary[] }>(server, 'GET', '/v1/admin/channels', undefined, token),
    revokeChannelLink: (server: string, token: string, name: string) =>
      request<{ channel: ChannelLinkSummary }>(
        server,
        'DELETE',
        `/v1/admin/channels/${segment(name)}`,
        undefined,
        token,
      ),
    audit: (server: string, token: string, limit: number) =>
      request<{ entries: AuditRecord[] }>(server, 'GET', `/v1/admin/audit?limit=${limit}`, undefined, token),
    reportSessions: (
      server: string,
      token: string,
      query: { from: string; to: string; technician?: string; group?: string },
    ) =>
      request<{ from: string; to: string; sessions: SessionSummary[] }>(
        server,
        'GET',
        `/v1/admin/reports/sessions?${new URLSearchParams(Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined)).toString()}`,
        undefined,
        token,
      ),
    chat: (server: string, token: string, sessionId: string) =>
      request<{ sessionId: string; lines: ChatLine[] }>(
        server,
        'GET',
        `/v1/admin/reports/chat/${segment(sessionId)}`,
        undefined,
        token,
      ),
    retention: (server: string, token: string) =>
      request<{ retention: RetentionSetting }>(server, 'GET', '/v1/admin/retention', undefined, token),
    setRetention: (server: string, token: string, days: number) =>
      request<{ retention: RetentionSetting }>(server, 'PUT', '/v1/admin/retention', { days }, token),
    gdprExport: (server: string, token: string, subject: GdprSubject) =>
      request<GdprExport>(server, 'POST', '/v1/admin/gdpr/export', subject, token),
    gdprDelete: (server: string, token: string, subject: GdprSubject) =>
      request<GdprErasure>(server, 'POST', '/v1/admin/gdpr/delete', subject, token),
    webhooks: (server: string, token: string, limit = 50) =>
      request<WebhookSettings & { deliveries: DeliveryStatus[] }>(
        server,
        'GET',
        `/v1/admin/webhooks?limit=${limit}`,
        undefined,
        token,
      ),
    setWebhook: (
      server: string,
      token: string,
      settings: { url: string; secret?: string; includeChat: boolean },
    ) => request<WebhookSettings & { secret?: string }>(server, 'PUT', '/v1/admin/webhooks', settings, token),
    removeWebhook: (server: string, token: string) =>
      request<WebhookSettings>(server, 'DELETE', '/v1/admin/webhooks', undefined, token),
    setRecordingKey: (server: string, token: string, publicKey: string) =>
      request<{ fingerprint: string }>(server, 'PUT', '/v1/admin/recordings/key', { publicKey }, token),
  },
  recordings: {
    /** Whether the caller's policy requires recording, and the organisation's key to seal to. */
    key: (server: string, token: string) =>
      request<RecordingKeyInfo>(server, 'GET', '/v1/recordings/key', undefined, token),
    upload: (server: string, token: string, id: string, upload: RecordingUpload) =>
      request<{ id: string; size: number }>(server, 'PUT', `/v1/recordings/${segment(id)}`, upload, token),
    list: (server: string, token: string, session?: string) =>
      request<{ recordings: RecordingSummary[] }>(
        server,
        'GET',
        `/v1/recordings${session ? `?session=${segment(session)}` : ''}`,
        undefined,
        token,
      ),
    get: (server: string, token: string, id: string) =>
      request<RecordingSummary & { data: string }>(
        server,
        'GET',
        `/v1/recordings/${segment(id)}`,
        undefined,
        token,
      ),
  },
}

export interface RecordingKeyInfo {
  mode: 'off' | 'required' | 'required-input'
  publicKey?: string
  fingerprint?: string
}

export interface RecordingUpload {
  sessionId: string
  channel: number
  kind: 'shell' | 'exec'
  complete: boolean
  /** base64 of the sealed recording. */
  data: string
}

export type { RecordingSummary } from '../gateway/recordings.js'
import type { RecordingSummary } from '../gateway/recordings.js'

export interface OpenSocketOptions {
  server: string
  role: Role
  /** How this peer comes in: with a PIN, into a group's shared queue, or taking a queued session. */
  entry: Entry
  token?: string
  /** How long the upgrade may take (15 s when absent); a reconnect keeps it inside its grace period. */
  handshakeTimeoutMs?: number
}

function entryHeaders(entry: Entry): Record<string, string> {
  if ('pin' in entry) return { [PIN_HEADER]: entry.pin }
  if ('channelSecret' in entry) return { [CHANNEL_LINK_HEADER]: entry.channelSecret }
  if ('resume' in entry) return { [RESUME_HEADER]: entry.resume }
  if ('invitation' in entry) return { [INVITATION_HEADER]: entry.invitation }
  return { [SESSION_HEADER]: entry.sessionId }
}

/**
 * Opens the WebSocket for a role; rejects with the gateway's reason when it refuses the upgrade.
 * `attach` runs synchronously on open: the gateway's first messages can arrive with the upgrade
 * response, and listeners added after an await would miss them.
 */
export function openGatewaySocket<T>(
  options: OpenSocketOptions,
  attach: (socket: WebSocket) => T,
): Promise<T> {
  return eachGateway(options.server, (url) => openSocketAt(url, options, attach))
}

function openSocketAt<T>(url: URL, options: OpenSocketOptions, attach: (socket: WebSocket) => T): Promise<T> {
  url = new URL(url)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  url.pathname = WS_PATH[options.role]
  const socket = new WebSocket(url, {
    headers: {
      ...entryHeaders(options.entry),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    maxPayload: MAX_FRAME_BYTES,
    handshakeTimeout: options.handshakeTimeoutMs ?? 15_000,
    perMessageDeflate: false,
    generateMask: zeroMask,
    ...bindAddress(),
  })
  return new Promise((resolve, reject) => {
    socket.once('open', () => {
      socket.removeAllListeners('error')
      resolve(attach(socket))
    })
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        let body: unknown
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        } catch {
          body = undefined
        }
        const retryAfter = response.headers['retry-after']
        reject(
          errorFromResponse(
            response.statusCode ?? 0,
            body,
            typeof retryAfter === 'string' ? retryAfter : null,
          ),
        )
        socket.terminate()
      })
    })
    socket.once('error', (error) => reject(unreachable(url.origin.replace(/^ws/, 'http'), error)))
  })
}
