/**
 * A pairing as the gateway sees it, made by lean clients (bench/gateways.ts, and the idle sessions
 * held by bench/idle-clients.ts): a PIN over HTTP, the end user and the technician upgraded with
 * it, both told `paired`. The sealed pairing between the two clients is left out.
 *
 * The clients are lean so that the bench's own CPU leaves the gateway its share of the machine:
 * the PIN is a plain node:http POST on a kept-alive connection (rescue's client uses node:http
 * too), and each side is a TCP socket that writes the same upgrade request `ws` writes for
 * rescue's client (the same request line and headers in the same order, no extensions), then reads the gateway's
 * frames itself and answers its pings with a pong masked as rescue's client masks (all-zero
 * mask). The gateway sees real HTTP and WebSocket upgrades, byte for byte as from rescue; only
 * the bench skips `ws`'s client machinery (and the check of `Sec-WebSocket-Accept`).
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import { PIN_HEADER, WS_PATH, type Role } from '../src/core/protocol/control-messages.js'

/** End user addresses in 127.`second`.0.0/16, one per pairing: the join limit is per address, as it is for real ones. */
export function endUserAddresses(second: number): () => string {
  let count = 0
  return () => {
    count = (count + 1) % 65_000
    return `127.${second}.${Math.floor(count / 250)}.${(count % 250) + 1}`
  }
}

const agent = new http.Agent({ keepAlive: true })

/** A new PIN of the token's technician (POST /v1/pins), over a kept-alive connection. */
function makePin(gateway: { url: string; token: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${gateway.url}/v1/pins`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': '2',
          authorization: `Bearer ${gateway.token}`,
        },
        timeout: 30_000,
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          if (response.statusCode !== 200)
            return reject(new Error(`POST /v1/pins -> ${response.statusCode}: ${text}`))
          resolve((JSON.parse(text) as { pin: string }).pin)
        })
        response.on('error', reject)
      },
    )
    request.on('timeout', () => request.destroy(new Error('timed out making a PIN')))
    request.on('error', reject)
    request.end('{}')
  })
}

const PONG_EMPTY = Buffer.from([0x8a, 0x80, 0, 0, 0, 0])

/**
 * Opens a peer's WebSocket with the upgrade `ws` writes, and resolves with its socket once the
 * gateway says `paired`; afterwards the socket keeps answering pings, as an idle client does.
 */
export function joinUntilPaired(
  url: string,
  role: Role,
  headers: Record<string, string>,
  localAddress?: string,
): Promise<net.Socket> {
  const target = new URL(url)
  const lines = [
    `GET ${WS_PATH[role]} HTTP/1.1`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    `Host: ${target.host}`,
  ]
  const socket = net.connect({
    host: target.hostname,
    port: Number(target.port),
    ...(localAddress ? { localAddress } : {}),
  })
  socket.setNoDelay(true)
  socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  return new Promise<net.Socket>((resolve, reject) => {
    let pending: Buffer = Buffer.alloc(0)
    let upgraded = false
    let paired = false
    const timer = setTimeout(() => fail(new Error(`timed out waiting for the ${role} to pair`)), 30_000)
    const fail = (error: Error) => {
      clearTimeout(timer)
      socket.destroy()
      reject(error)
    }
    socket.on('error', (error) => (paired ? undefined : fail(error)))
    socket.on('close', () => (paired ? undefined : fail(new Error(`closed before pairing (${role})`))))
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
      if (!upgraded) {
        const end = pending.indexOf('\r\n\r\n')
        if (end < 0) return
        const status = pending.toString('latin1', 9, 12)
        if (status !== '101') return fail(new Error(`HTTP ${status}`))
        upgraded = true
        pending = pending.subarray(end + 4)
      }
      // Frames from the gateway: never masked, never fragmented (ws sends each message whole).
      while (pending.length >= 2) {
        const opcode = pending[0]! & 0x0f
        let length = pending[1]! & 0x7f
        let start = 2
        if (length === 126) {
          if (pending.length < 4) return
          length = pending.readUInt16BE(2)
          start = 4
        } else if (length === 127) {
          if (pending.length < 10) return
          length = Number(pending.readBigUInt64BE(2))
          start = 10
        }
        if (pending.length < start + length) return
        const payload = pending.subarray(start, start + length)
        pending = pending.subarray(start + length)
        if (opcode === 0x9) {
          // A pong with the ping's payload, masked with zeros as rescue's client masks.
          socket.write(
            length === 0
              ? PONG_EMPTY
              : Buffer.concat([Buffer.from([0x8a, 0x80 | length, 0, 0, 0, 0]), payload]),
          )
        } else if (opcode === 0x8) {
          if (!paired)
            return fail(new Error(`closed ${length >= 2 ? payload.readUInt16BE(0) : ''} before pairing`))
          socket.destroy()
        } else if (
          opcode === 0x1 &&
          !paired &&
          (JSON.parse(payload.toString('utf8')) as { type?: string }).type === 'paired'
        ) {
          paired = true
          clearTimeout(timer)
          resolve(socket)
        }
      }
    })
  })
}

/** One pairing: a PIN on `hostGateway`, the end user there (from `address`), the technician on `technicianGateway`. */
export async function rawPairing(
  hostGateway: { url: string; token: string },
  technicianGateway: { url: string; token: string },
  address: string,
): Promise<[net.Socket, net.Socket]> {
  const pin = await makePin(hostGateway)
  return Promise.all([
    joinUntilPaired(hostGateway.url, 'host', { [PIN_HEADER]: pin }, address),
    joinUntilPaired(technicianGateway.url, 'technician', {
      [PIN_HEADER]: pin,
      authorization: `Bearer ${technicianGateway.token}`,
    }),
  ])
}
