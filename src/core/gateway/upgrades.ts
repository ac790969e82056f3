/**
 * The gateway's WebSocket upgrades, taken from the HTTP server before fastify sees them: a pairing
 * makes two, and fastify's request cycle around ws's handshake (routing, hooks, a reply object on
 * a socket that never answers in HTTP) was about a quarter of the gateway's CPU a pairing
 * (bench/gateways.ts). The admission is the gateway's own code, as a route's preValidation ran it;
 * a refusal is the same HTTP answer fastify's error handler gave: status, JSON error body, and
 * `retry-after` when there is one. Imports ws and node only.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'

/** An HTTP answer to a request that is not upgraded. */
export interface Refusal {
  status: number
  body: unknown
  headers?: Record<string, string>
}

/** Where an admitted socket goes. */
export interface Seat {
  /** Called synchronously with the upgraded socket, right after the 101 is queued. */
  seat(socket: WebSocket): void
  /** The client went away before its upgrade: undo what the admission opened for it. */
  drop?(): void
}

export interface UpgradeOptions {
  /** The largest message a peer may send (ws closes with 1009 past it). */
  maxPayload: number
  /**
   * Decides whether `request` may upgrade, and where its socket goes once it has: resolves with
   * what seats the socket, or rejects (a refusal, answered with `refusal(error)`).
   */
  admit(request: IncomingMessage, path: string): Promise<Seat>
  refusal(error: unknown): Refusal
}

export interface Upgrades {
  /** Stops taking upgrades and closes every upgraded socket (a closing handshake each). */
  close(): void
}

/** Answers `socket` in HTTP and closes it, as ws refuses a handshake. */
function answer(socket: Duplex, { status, body, headers = {} }: Refusal): void {
  if (!socket.writable) return void socket.destroy()
  const text = JSON.stringify(body)
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'connection: close',
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(text)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ]
  socket.once('finish', () => socket.destroy())
  socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`)
}

function uncork(socket: Duplex): void {
  socket.uncork()
}

function destroyOnError(this: Duplex): void {
  this.destroy()
}

/** Takes the upgrades of `server` (HTTP or HTTPS) from now on. */
export function takeUpgrades(server: Server, options: UpgradeOptions): Upgrades {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload })
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node leaves the socket without an error listener here; a reset during the admission must
    // not take the process down.
    socket.on('error', destroyOnError)
    const url = request.url ?? '/'
    const query = url.indexOf('?')
    const path = query < 0 ? url : url.slice(0, query)
    options.admit(request, path).then(
      ({ seat, drop }) => {
        socket.off('error', destroyOnError)
        if (!socket.readable || !socket.writable) {
          drop?.()
          return void socket.destroy()
        }
        // The 101 and what the seat sends in this turn of the event loop leave in one write:
        // `waiting`, and for the second side of a pairing over SQLite (whose statements run at
        // once) `paired` too. One write a pairing fewer; on PostgreSQL `paired` waits on the
        // database and goes later, alone, the 101 delayed by nothing but this turn.
        socket.cork()
        wss.handleUpgrade(request, socket, head, seat)
        setImmediate(uncork, socket)
      },
      (error: unknown) => answer(socket, options.refusal(error)),
    )
  }
  server.on('upgrade', onUpgrade)
  return {
    close() {
      server.off('upgrade', onUpgrade)
      for (const client of wss.clients) client.close()
    },
  }
}
