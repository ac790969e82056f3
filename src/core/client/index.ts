/**
 * The technician's and end user's side of the gateway's HTTP API and WebSocket upgrade. Turns
 * every refusal into a UserError carrying the gateway's message and exit code. Imports core only.
 */
import WebSocket from 'ws'
import { z } from 'zod'
import { ExitCode, UserError, type ErrorCode } from '../errors.js'
import { MAX_FRAME_BYTES, PIN_HEADER, WS_PATH, type Role } from '../gateway/control-messages.js'
import type { LoginResult, PinResult, TechnicianIdentity } from '../accounts/index.js'

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

async function request<T>(
  server: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<T> {
  const base = parseServerUrl(server)
  let response: Response
  try {
    response = await fetch(new URL(path, base), {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    })
  } catch (error) {
    throw unreachable(server, error)
  }
  const payload: unknown = await response.json().catch(() => undefined)
  if (!response.ok) throw errorFromResponse(response.status, payload, response.headers.get('retry-after'))
  return payload as T
}

export const api = {
  login: (server: string, email: string, password: string) =>
    request<LoginResult>(server, 'POST', '/v1/login', { email, password }),
  logout: (server: string, token: string) => request<{ ok: true }>(server, 'POST', '/v1/logout', {}, token),
  me: (server: string, token: string) =>
    request<TechnicianIdentity>(server, 'GET', '/v1/me', undefined, token),
  createPin: (server: string, token: string, ttlSeconds?: number) =>
    request<PinResult>(server, 'POST', '/v1/pins', ttlSeconds === undefined ? {} : { ttlSeconds }, token),
}

export interface OpenSocketOptions {
  server: string
  role: Role
  pin: string
  token?: string
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
  const url = parseServerUrl(options.server)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  url.pathname = WS_PATH[options.role]
  const socket = new WebSocket(url, {
    headers: {
      [PIN_HEADER]: options.pin,
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    maxPayload: MAX_FRAME_BYTES,
    handshakeTimeout: 15_000,
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
    socket.once('error', (error) => reject(unreachable(options.server, error)))
  })
}
