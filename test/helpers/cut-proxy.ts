/**
 * A TCP proxy of the test's own, on 127.0.0.1, between a client and its gateway: `cut()` drops
 * every connection through it at once (as a network that goes away) and resets new ones until
 * `restore()`; `retarget()` points it at another gateway (one that replaced a dead one).
 */
import net from 'node:net'

export interface CutProxy {
  url: string
  port: number
  cut(): void
  restore(): void
  retarget(port: number): void
  close(): Promise<void>
}

export async function startCutProxy(targetPort: number): Promise<CutProxy> {
  let target = targetPort
  let down = false
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>()
  const server = net.createServer((client) => {
    if (down) return client.resetAndDestroy()
    const upstream = net.connect(target, '127.0.0.1')
    const pair = { client, upstream }
    pairs.add(pair)
    const drop = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  const proxy: CutProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    cut() {
      down = true
      for (const { client, upstream } of pairs) {
        // A reset, not a goodbye: neither end gets a closing handshake, as when a network drops.
        client.resetAndDestroy()
        upstream.resetAndDestroy()
      }
      pairs.clear()
    },
    restore() {
      down = false
    },
    retarget(port: number) {
      target = port
    },
    close() {
      proxy.cut()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
  return proxy
}
