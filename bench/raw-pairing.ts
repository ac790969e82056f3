/**
 * A pairing as the gateway sees it, made with raw `ws` clients (bench/gateways.ts, and the idle
 * sessions held by bench/idle-clients.ts): a PIN over HTTP, the end user and the technician
 * upgraded with it, both told `paired`. The sealed pairing between the two clients is left out.
 */
import WebSocket from 'ws'
import { postJson, withTimeout } from './lib.js'
import { PIN_HEADER, WS_PATH, type Role } from '../src/core/protocol/control-messages.js'

/** End user addresses in 127.`second`.0.0/16, one per pairing: the join limit is per address, as it is for real ones. */
export function endUserAddresses(second: number): () => string {
  let count = 0
  return () => {
    count = (count + 1) % 65_000
    return `127.${second}.${Math.floor(count / 250)}.${(count % 250) + 1}`
  }
}

/** Opens a peer's WebSocket and resolves with it once the gateway says `paired`. */
export function joinUntilPaired(
  url: string,
  role: Role,
  headers: Record<string, string>,
  localAddress?: string,
): Promise<WebSocket> {
  const target = new URL(WS_PATH[role], url)
  target.protocol = 'ws:'
  const socket = new WebSocket(target, {
    headers,
    perMessageDeflate: false,
    ...(localAddress ? { localAddress } : {}),
  })
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      socket.on('message', (data, isBinary) => {
        if (!isBinary && (JSON.parse(String(data)) as { type?: string }).type === 'paired') resolve(socket)
      })
      socket.once('unexpected-response', (_request, response) =>
        reject(new Error(`HTTP ${response.statusCode}`)),
      )
      socket.once('error', reject)
      socket.once('close', (code) => reject(new Error(`closed ${code} before pairing`)))
    }),
    30_000,
    `the ${role} to pair`,
  )
}

/** One pairing: a PIN on `hostGateway`, the end user there (from `address`), the technician on `technicianGateway`. */
export async function rawPairing(
  hostGateway: { url: string; token: string },
  technicianGateway: { url: string; token: string },
  address: string,
): Promise<[WebSocket, WebSocket]> {
  const { pin } = await postJson<{ pin: string }>(`${hostGateway.url}/v1/pins`, {}, hostGateway.token)
  return Promise.all([
    joinUntilPaired(hostGateway.url, 'host', { [PIN_HEADER]: pin }, address),
    joinUntilPaired(technicianGateway.url, 'technician', {
      [PIN_HEADER]: pin,
      authorization: `Bearer ${technicianGateway.token}`,
    }),
  ])
}
