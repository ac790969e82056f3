/**
 * Links cut under live sessions, through the built CLI: a TCP proxy of the test's own sits between
 * one side and its gateway and drops every connection at once (a reset, as a network going away),
 * refusing new ones until restored. A 10 s cut of the technician's link in an interactive shell
 * and of the end user's link in a 100 MiB `rescue send` must go unnoticed above the stream (the
 * same shell, bytes typed meanwhile arriving once, the file whole without --resume or a second
 * consent); a cut longer than the grace period ends both sides, saying so, with exit 11.
 */
import Database from 'better-sqlite3'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { startCutProxy, type CutProxy } from '../helpers/cut-proxy.js'
import { CliWorld, onlyJson, waitUntil, type CliProcess, type JsonLine, type PtyProcess } from './cli.js'

const ADMIN = {
  email: 'iris@acme.example',
  password: 'a long and winding passphrase',
  name: 'Iris Novak',
  organisation: 'Acme IT',
}
const MiB = 1024 * 1024
/** The cut the issue asks for: a laptop lid closed, a Wi-Fi blip. */
const CUT_MS = 10_000

let world: CliWorld
let url: string
/** The gateway's data directory: its store says when a session can be resumed. */
let dataDir: string
/** The technician's token, for `connect --server PROXY` (the saved login is for the gateway's own URL). */
let token: string
const proxies: CutProxy[] = []

beforeAll(async () => {
  world = new CliWorld()
  const gateway = await world.startServer()
  await world.initAdmin(gateway.dataDir, ADMIN)
  await world.login(gateway.url, ADMIN)
  url = gateway.url
  dataDir = gateway.dataDir
  const response = await fetch(`${url}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }),
  })
  token = ((await response.json()) as { token: string }).token
})
afterEach(async () => {
  await world.stopTracked()
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()))
})
afterAll(() => world?.dispose())

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function cutProxy(): Promise<CutProxy> {
  const proxy = await startCutProxy(Number(new URL(url).port))
  proxies.push(proxy)
  return proxy
}

/**
 * Until the gateway holds both sides' resume keys (each sends its own as it pairs): a link cut
 * before its key got through cannot be resumed at all, which is not the cut under test.
 */
async function untilResumable(sessionId: string): Promise<void> {
  await waitUntil(() => {
    const db = new Database(path.join(dataDir, 'rescue.db'), { readonly: true })
    try {
      const row = db
        .prepare('SELECT host_resume_key, technician_resume_key FROM sessions WHERE id = ?')
        .get(sessionId) as
        { host_resume_key: string | null; technician_resume_key: string | null } | undefined
      return Boolean(row?.host_resume_key && row.technician_resume_key)
    } finally {
      db.close()
    }
  })
}

/** The technician's side through `server`, with the token of the saved login. */
function technicianEnv(extra: Record<string, string> = {}) {
  return { RESCUE_TOKEN: token, ...extra }
}

/** `rescue host --json` without a terminal, on a fresh PIN, through `server`; resolves once it waits. */
async function headlessHost(server: string, flags: string[], env: Record<string, string> = {}) {
  const { pin } = await world.newPin()
  const home = world.dir('home')
  const auditLog = path.join(world.dir('state'), 'audit.jsonl')
  const host = world.track(
    world.spawn('host', ['host', '--server', server, '--pin', pin, '--json', ...flags], {
      env: { HOME: home, SHELL: '/bin/sh', RESCUE_AUDIT_LOG: auditLog, ...env },
    }),
  )
  await host.waitForEvent('waiting')
  return { pin, host, home, auditLog }
}

function eventsNamed(child: CliProcess, name: string): JsonLine[] {
  return child.events.filter((line) => line.event === name)
}

function sha256Of(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex')
}

function randomFile(size: number): string {
  const file = path.join(world.dir('local'), 'big.bin')
  const handle = fs.openSync(file, 'w')
  for (let written = 0; written < size; written += MiB) fs.writeSync(handle, randomBytes(MiB))
  fs.closeSync(handle)
  return file
}

/** Types a line on the technician's terminal and resolves with what `answer` captures after it. */
async function type(technician: PtyProcess, line: string, answer: RegExp) {
  const from = technician.mark()
  technician.write(`${line}\r`)
  return (await technician.waitFor(answer, { from })).text
}

describe('a 10 s cut of one side’s link', () => {
  it('goes unnoticed above the stream: the same shell for the technician, and a 100 MiB send whole for the end user', async () => {
    // Both at once: two sessions, two proxies, one cut each; the test takes one cut's time.
    await Promise.all([technicianCutInShell(), hostCutInSend()])
  })
})

/** The technician's link cut for 10 s in an interactive `rescue connect` shell. */
async function technicianCutInShell() {
  const proxy = await cutProxy()
  const { pin, host } = await headlessHost(url, ['--auto-approve', 'shell', '--trust-gateway'])
  const technician = world.track(
    await world.spawnPty('connect', ['connect', '--server', proxy.url, '--pin', pin], {
      env: technicianEnv(),
    }),
  )
  await host.waitForEvent('channel-open', undefined, (line) => line.kind === 'shell')
  const pid = await type(technician, 'echo pid=$$', /pid=(\d+)\n/)

  const cutAt = Date.now()
  proxy.cut()
  const lost = await technician.waitFor('connection lost, reconnecting')
  // Typed while the link is down: SSH's bytes wait in the stream, to be sent once, after it.
  technician.write('echo cut-$((40+2))\r')
  await host.waitForEvent('link-lost')
  await sleep(CUT_MS - (Date.now() - cutAt))
  proxy.restore()
  await technician.waitFor('reconnected after', { from: lost.end })
  await technician.waitFor(/cut-42\n/, { from: lost.end })

  expect(await type(technician, 'echo pid=$$', /pid=(\d+)\n/)).toBe(pid)
  const after = technician.output.slice(lost.end)
  expect(after.match(/echo cut-\$\(\(40\+2\)\)/g), 'the typed line, echoed').toHaveLength(1)
  expect(after.match(/cut-42/g), 'its output').toHaveLength(1)
  expect(eventsNamed(host, 'link-lost')).toMatchObject([{ side: 'peer' }])
  expect(eventsNamed(host, 'link-restored')).toMatchObject([{ side: 'peer' }])
  // Still the one shell the end user allowed: no second channel, no second request.
  expect(eventsNamed(host, 'channel-open')).toHaveLength(1)
  expect(eventsNamed(host, 'consent-request')).toHaveLength(1)

  technician.write('exit 4\r')
  expect(await technician.waitForExit()).toEqual({ exitCode: 4, signal: undefined })
}

/** The end user's link cut for 10 s in the middle of a 100 MiB `rescue send`. */
async function hostCutInSend() {
  const proxy = await cutProxy()
  const runtime = world.dir('runtime')
  fs.chmodSync(runtime, 0o700)
  const { pin, host, home } = await headlessHost(proxy.url, [
    '--auto-approve',
    'files.send',
    '--trust-gateway',
  ])
  fs.mkdirSync(path.join(home, 'incoming'))
  const technician = world.track(
    world.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json'], {
      env: { XDG_RUNTIME_DIR: runtime },
    }),
  )
  const paired = await technician.waitForEvent('paired')
  const socket = path.join(runtime, 'rescue', `${paired.sessionId as string}.sock`)
  await waitUntil(() => fs.existsSync(socket))
  const local = randomFile(100 * MiB)
  const expected = sha256Of(local)

  const send = world.track(
    world.spawn('send', ['send', '--json', local, 'incoming/'], { env: { XDG_RUNTIME_DIR: runtime } }),
  )
  // Cut once a fifth of it is there: the rest must come after the link does.
  await host.waitForEvent('file-progress', 60_000, (line) => (line.bytes as number) >= 20 * MiB)
  proxy.cut()
  await technician.waitForEvent('link-lost')
  await sleep(CUT_MS)
  const before = eventsNamed(host, 'file-progress').at(-1)!.bytes as number
  proxy.restore()
  expect(await send.waitForExit(90_000)).toEqual({ exitCode: 0, signal: undefined })

  expect(before, 'the transfer was in the middle when the link came back').toBeLessThan(100 * MiB)
  const report = send.events.find((line) => line.direction === 'send')!
  expect(report).toMatchObject({ direction: 'send', bytes: 100 * MiB, sha256: expected })
  expect((report.files as { resumedFrom: number }[])[0]?.resumedFrom).toBe(0)
  expect(sha256Of(path.join(home, 'incoming', 'big.bin'))).toBe(expected)
  expect(fs.readdirSync(path.join(home, 'incoming'))).toEqual(['big.bin'])
  expect(eventsNamed(host, 'link-lost')).toMatchObject([{ side: 'self' }])
  expect(eventsNamed(host, 'link-restored')).toMatchObject([{ side: 'self' }])
  expect(eventsNamed(technician, 'link-restored')).toMatchObject([{ side: 'peer' }])
  // Asked (and auto-approved) once: the resume asked nothing again.
  expect(eventsNamed(host, 'consent-request').map((line) => line.permission)).toEqual(['files.send'])
}

describe('a cut longer than the grace period', () => {
  it('ends both sides with a clear reason and exit 11; the end user’s audit log has the drop and the end', async () => {
    const proxy = await cutProxy()
    const grace = { RESCUE_RESUME_GRACE: '2s' }
    const { pin, host, auditLog } = await headlessHost(url, [], grace)
    const technician = world.track(
      world.spawn('connect', ['connect', '--server', proxy.url, '--pin', pin, '--no-shell'], {
        env: technicianEnv(grace),
      }),
    )
    const paired = await host.waitForEvent('paired')
    await technician.waitForLine('the words', (line) => line.startsWith('security words:'))
    await untilResumable(paired.sessionId as string)

    proxy.cut()
    const [technicianExit, hostExit] = await Promise.all([technician.waitForExit(), host.waitForExit()])

    expect(technicianExit).toEqual({ exitCode: ExitCode.connectionLost, signal: undefined })
    expect(hostExit).toEqual({ exitCode: ExitCode.connectionLost, signal: undefined })
    expect(technician.stdout + technician.stderr).toContain('connection lost, reconnecting')
    expect(technician.stdout + technician.stderr).toContain(
      'session ended: the connection did not come back within 2 s',
    )
    expect(eventsNamed(host, 'ended')).toEqual([
      expect.objectContaining({
        by: 'gateway',
        code: 'connectionLost',
        reason: "the technician's connection did not come back within 2 s",
      }),
    ])
    const log = onlyJson(
      await world.run(['log', '--json', '--session', paired.sessionId as string], {
        env: { RESCUE_AUDIT_LOG: auditLog },
      }),
    )
    const entries = log.entries as JsonLine[]
    expect(entries.map((entry) => entry.event).slice(-2)).toEqual(['link-lost', 'session-end'])
    expect(entries.at(-2)).toMatchObject({ side: 'peer', graceMs: 2000 })
    expect(entries.at(-1)).toMatchObject({
      by: 'gateway',
      reason: "the technician's connection did not come back within 2 s",
    })
  })
})
