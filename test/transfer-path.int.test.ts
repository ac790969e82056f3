/**
 * The path a file takes on the technician's machine (issue 12): `rescue send` and `rescue get` ask
 * the live `rescue connect` to run the copy on the session's own SSH connection, so the file's
 * bytes are encrypted once there, not twice (once for a second SSH connection on the control
 * socket, once more for the session). Counted, not timed: the bytes that cross the control socket
 * and the SSH connections opened while the file moves.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import ssh2 from 'ssh2'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { api } from '../src/core/client/index.js'
import { requestTransfer } from '../src/core/control/transfers.js'
import { startHost } from '../src/core/host/index.js'
import { startTechnician } from '../src/core/technician/index.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

let gw: TestGateway | undefined
const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await gw?.close()
  gw = undefined
})

const MiB = 1024 * 1024
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex')

/** A live session whose host allows files both ways, and its control socket. */
async function live() {
  gw = await startTestGateway()
  const pin = (await api.createPin(gw.url, gw.token)).pin
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-transfer-path-'))
  const controlDir = path.join(dir, 'run')
  fs.mkdirSync(controlDir, { mode: 0o700 })
  const host = await startHost({
    server: gw.url,
    entry: { pin },
    interactive: false,
    confirmWords: false,
    trustGateway: true,
    autoApprove: ['files.send', 'files.receive'],
    auditFile: path.join(dir, 'audit.jsonl'),
    onEvent: () => {},
  })
  const tech = await startTechnician({
    server: gw.url,
    entry: { pin },
    token: gw.token,
    onEvent: () => {},
    controlDir,
  })
  cleanups.push(async () => {
    tech.session.end()
    await tech.session.done
    await host.done
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await tech.ssh
  await waitFor(
    () => fs.readdirSync(controlDir).some((name) => name.endsWith('.sock')),
    5000,
    'the control socket',
  )
  const socket = path.join(
    controlDir,
    fs.readdirSync(controlDir).find((name) => name.endsWith('.sock'))!,
  )
  return { dir, socket }
}

/** A Unix socket in front of `target` that counts the bytes crossing it both ways. */
async function countingProxy(target: string, at: string) {
  const counted = { toConnect: 0, fromConnect: 0 }
  const server = net.createServer((client) => {
    const upstream = net.connect(target)
    client.on('data', (chunk: Buffer) => (counted.toConnect += chunk.length))
    upstream.on('data', (chunk: Buffer) => (counted.fromConnect += chunk.length))
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(at, resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return counted
}

describe('send and get run on the session’s own SSH connection', () => {
  it('a 16 MiB file crosses the control socket as a request and progress only, and no SSH connection is opened for it', async () => {
    const { dir, socket } = await live()
    const proxy = path.join(dir, 'proxy.sock')
    const counted = await countingProxy(socket, proxy)
    const source = path.join(dir, 'source.bin')
    fs.writeFileSync(source, randomBytes(16 * MiB))
    const connects = vi.spyOn(ssh2.Client.prototype, 'connect')

    const sent = await requestTransfer(
      proxy,
      { direction: 'send', from: source, to: path.join(dir, 'landed.bin'), recursive: false, resume: false },
      {},
    )
    expect(sent[0]).toMatchObject({ bytes: 16 * MiB, sha256: sha256(source) })
    expect(sha256(path.join(dir, 'landed.bin'))).toBe(sha256(source))

    const back = path.join(dir, 'back.bin')
    const got = await requestTransfer(
      proxy,
      { direction: 'get', from: path.join(dir, 'landed.bin'), to: back, recursive: false, resume: false },
      {},
    )
    expect(got[0]).toMatchObject({ bytes: 16 * MiB, sha256: sha256(source) })
    expect(sha256(back)).toBe(sha256(source))

    // 32 MiB moved; through a second SSH connection on the control socket all of it would cross it.
    expect(counted.toConnect + counted.fromConnect).toBeLessThan(64 * 1024)
    expect(connects).not.toHaveBeenCalled()
  })

  it('the session negotiates AES-GCM both ways, and each byte of a file crosses the gateway once', async () => {
    // ssh2 runs AES-GCM in OpenSSL (one context per direction with its native binding), and
    // ChaCha20-Poly1305 partly in JavaScript (WebAssembly Poly1305) without it: a change of
    // algorithm order would cost a transfer several times its CPU.
    const negotiated: { cs: { cipher: string }; sc: { cipher: string } }[] = []
    const emit = ssh2.Client.prototype.emit
    vi.spyOn(ssh2.Client.prototype, 'emit').mockImplementation(function (
      this: ssh2.Client,
      event: string | symbol,
      ...args: unknown[]
    ) {
      if (event === 'handshake') negotiated.push(args[0] as (typeof negotiated)[number])
      return emit.call(this, event, ...args)
    })
    const { dir, socket } = await live()
    expect(negotiated).toHaveLength(1)
    expect(negotiated[0]!.cs.cipher).toBe('aes128-gcm@openssh.com')
    expect(negotiated[0]!.sc.cipher).toBe('aes128-gcm@openssh.com')

    const source = path.join(dir, 'source.bin')
    fs.writeFileSync(source, randomBytes(16 * MiB))
    const before = gw!.gateway.rendezvous.stats.relayedBytes
    await requestTransfer(
      socket,
      { direction: 'send', from: source, to: path.join(dir, 'landed.bin'), recursive: false, resume: false },
      {},
    )
    // SSH, SFTP and the session's frames add their headers, acknowledgements and replies: a few
    // hundredths at most, not a second copy of the bytes.
    const relayed = gw!.gateway.rendezvous.stats.relayedBytes - before
    expect(relayed).toBeGreaterThan(16 * MiB)
    expect(relayed).toBeLessThan(16 * MiB * 1.02)
  })

  it('local paths are taken from the folder rescue send ran in, and shown as typed', async () => {
    const { dir, socket } = await live()
    fs.writeFileSync(path.join(dir, 'note.txt'), 'a note\n')
    // As rescue send sends it: the folder it runs in, read once when the request goes out.
    const cwd = vi.spyOn(process, 'cwd').mockReturnValue(dir)
    const sending = requestTransfer(
      socket,
      {
        direction: 'send',
        from: 'note.txt',
        to: path.join(dir, 'there.txt'),
        recursive: false,
        resume: false,
      },
      {},
    )
    cwd.mockRestore()
    const sent = await sending
    expect(sent[0]!.local).toBe('note.txt')
    expect(fs.readFileSync(path.join(dir, 'there.txt'), 'utf8')).toBe('a note\n')
    await expect(
      requestTransfer(
        socket,
        { direction: 'send', from: 'missing.txt', to: 'x', recursive: false, resume: false },
        {},
      ),
    ).rejects.toMatchObject({ code: 'usage', message: 'no such file or folder here: missing.txt' })
  })

  it('a request connect cannot read is refused with a clear error, and the socket still serves the next one', async () => {
    const { dir, socket } = await live()
    const reply = await new Promise<string>((resolve, reject) => {
      const client = net.connect(socket)
      let text = ''
      client.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')))
      client.on('close', () => resolve(text))
      client.on('error', reject)
      client.end('{"op":"transfer","direction":"sideways"}\n')
    })
    expect(JSON.parse(reply)).toMatchObject({
      event: 'error',
      message: 'rescue connect did not understand the request',
    })
    fs.writeFileSync(path.join(dir, 'a.txt'), 'a\n')
    const sent = await requestTransfer(
      socket,
      {
        direction: 'send',
        from: path.join(dir, 'a.txt'),
        to: path.join(dir, 'b.txt'),
        recursive: false,
        resume: false,
      },
      {},
    )
    expect(sent[0]!.bytes).toBe(2)
  })
})
