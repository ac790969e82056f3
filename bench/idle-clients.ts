/**
 * A client process of bench/gateways.ts's idle part: makes `--count` raw pairings on one gateway
 * (raw-pairing.ts), `--concurrency` at a time, and holds every socket open and idle until it is
 * told to stop (SIGTERM or its stdin closing). Several run at once so that no client process
 * needs more sockets than its file limit. Prints JSON lines: `{"paired":n}` now and then, then
 * `{"done":n,"failures":f}`.
 */
import { parseArgs } from 'node:util'
import type net from 'node:net'
import { endUserAddresses, rawPairing } from './raw-pairing.js'

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    count: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '20' },
    // The second byte of this process's end user addresses (127.N.0.0/16).
    subnet: { type: 'string', default: '10' },
  },
})
const gateway = { url: values.url ?? '', token: values.token ?? '' }
const count = Number(values.count)
const address = endUserAddresses(Number(values.subnet))
const sockets: net.Socket[] = []
const say = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`)

const stop = () => {
  for (const socket of sockets) socket.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.stdin.on('end', stop).resume()

let next = 0
let failures = 0
await Promise.all(
  Array.from({ length: Number(values.concurrency) }, async () => {
    while (next < count) {
      next++
      try {
        sockets.push(...(await rawPairing(gateway, gateway, address())))
        if ((sockets.length / 2) % 500 === 0) say({ paired: sockets.length / 2 })
      } catch (error) {
        failures++
        if (failures <= 3) process.stderr.write(`pairing failed: ${String(error)}\n`)
      }
    }
  }),
)
say({ done: sockets.length / 2, failures })
