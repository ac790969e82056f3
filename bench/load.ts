/**
 * Load benchmark (STYLE.md rule 19, issue 10): one built gateway (`rescue server`, its own process)
 * against many host + technician pairs made with the core client API (startSession, as `rescue host`
 * and `rescue connect` do, without SSH above), in three parts:
 *   - pairings per second: a PIN made over HTTP, both sides joined, the sealed pairing run, both
 *     told `paired`; `--concurrency` pairings in flight at once;
 *   - the gateway's RSS with every one of those sessions left idle and paired: per session, and in
 *     total for `--sessions` of them (target: 10,000 under 1 GiB);
 *   - resume: `--cuts` cuts of one side's link through a cutting TCP proxy while bytes stream
 *     through the session both ways; the time from the link coming back (`restore()`) to
 *     `link-restored` on both sides (target: p99 within 1 s), and the bytes lost (must be 0).
 * Each idle session holds two sockets in the gateway and two here: run it through `npm run
 * bench:load`, which raises the file limit first. Prints one JSON object on stdout; progress to stderr.
 *
 *   npm run build && npm run bench:load -- [--sessions 9900] [--concurrency 50] [--cuts 50]
 */
import fs from 'node:fs'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { requireBuiltCli, startLoggedInGateway, cliEnv, distLooksStale } from './cli.js'
import { readStatusKiB } from './proc.js'
import { benchLog, makeTempDir, onCleanup, runBench, sleep, UsageError, withTimeout } from './lib.js'
import { api } from '../src/core/client/index.js'
import { startSession, type Session, type SessionEvent } from '../src/core/session/index.js'
import { generateSshKeyPair } from '../src/core/ssh/keys.js'
import type { ResumableStream } from '../src/core/transport/resumable-stream.js'
import { startCutProxy } from '../test/helpers/cut-proxy.js'

const log = benchLog('bench:load')
const round = (value: number, digits = 1) => Number(value.toFixed(digits))
const MiB = 1024 * 1024

interface Pair {
  host: Session
  technician: Session
  hostStream: ResumableStream
  technicianStream: ResumableStream
  hostEvents: SessionEvent[]
  technicianEvents: SessionEvent[]
}

/** One host + technician pair on a fresh PIN, resolved once both are paired and hold their stream. */
async function pair(server: string, token: string, sshKey: string, technicianServer = server): Promise<Pair> {
  const { pin } = await api.createPin(server, token)
  const hostEvents: SessionEvent[] = []
  const technicianEvents: SessionEvent[] = []
  let hostStream: ResumableStream | undefined
  let technicianStream: ResumableStream | undefined
  const common = { sshPublicKey: sshKey, entry: { pin } }
  // End users come from many addresses, as they do: the gateway lets 30 sessions a minute start
  // from one. startSession opens its socket synchronously, so the variable is read for it alone.
  process.env.RESCUE_BIND_ADDRESS = endUserAddress()
  const hostStarted = startSession({
    ...common,
    server,
    role: 'host',
    onEvent: (event) => hostEvents.push(event),
    onSecured: ({ transport }) => (hostStream = transport),
  })
  delete process.env.RESCUE_BIND_ADDRESS
  const host = await hostStarted
  const technician = await startSession({
    ...common,
    server: technicianServer,
    role: 'technician',
    token,
    onEvent: (event) => technicianEvents.push(event),
    onSecured: ({ transport }) => (technicianStream = transport),
  })
  await withTimeout(
    (async () => {
      while (!hostStream || !technicianStream) {
        const ended = [...hostEvents, ...technicianEvents].find((event) => event.event === 'ended')
        if (ended) throw new Error(`a pairing ended: ${JSON.stringify(ended)}`)
        await sleep(5)
      }
    })(),
    30_000,
    'a pairing',
  )
  return {
    host,
    technician,
    hostStream: hostStream!,
    technicianStream: technicianStream!,
    hostEvents,
    technicianEvents,
  }
}

let endUsers = 0
/** The next of 127.1.0.0/16 (every 127/8 address reaches the gateway on 127.0.0.1 under Linux). */
function endUserAddress(): string {
  endUsers = (endUsers + 1) % 65_000
  return `127.1.${Math.floor(endUsers / 250)}.${(endUsers % 250) + 1}`
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string', default: '9900' },
      concurrency: { type: 'string', default: '50' },
      cuts: { type: 'string', default: '50' },
    },
  })
  const sessions = Number(values.sessions)
  const concurrency = Number(values.concurrency)
  const cuts = Number(values.cuts)
  if (![sessions, concurrency, cuts].every((n) => Number.isInteger(n) && n > 0)) {
    throw new UsageError('--sessions, --concurrency and --cuts take positive whole numbers')
  }
  requireBuiltCli()
  if (distLooksStale()) log('warning: src/ is newer than dist/: run `npm run build` first')
  // Two sockets per idle session here and in the gateway, and some to spare.
  const fileLimit = fileLimitOf(process.pid)
  if (fileLimit !== undefined && fileLimit < 2 * sessions + 200) {
    throw new UsageError(
      `the file limit (${fileLimit}) is too low for ${sessions} sessions: run it through npm run bench:load, or ulimit -n ${2 * sessions + 200}`,
    )
  }

  const work = makeTempDir('rescue-bench-load-')
  const env = cliEnv(work, work)
  const gateway = await startLoggedInGateway(`${work}/gateway`, env)
  log(`gateway ${gateway.url} (pid ${gateway.pid})`)
  const { publicKey } = generateSshKeyPair()
  const pairs: Pair[] = []
  onCleanup(() => {
    for (const { host, technician } of pairs) {
      host.end()
      technician.end()
    }
  })
  await sleep(500)
  const rssIdleGatewayKiB = readStatusKiB(gateway.pid, 'VmRSS')!

  // Pairings per second, and the sessions they leave idle.
  const started = process.hrtime.bigint()
  const marks: { sessions: number; seconds: number; rssMiB: number }[] = []
  let next = 0
  let failures = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < sessions) {
        next++
        try {
          pairs.push(await pair(gateway.url, gateway.token, publicKey))
        } catch (error) {
          failures++
          if (failures <= 3) log(`pairing failed: ${error instanceof Error ? error.message : String(error)}`)
        }
        if (pairs.length % 1000 === 0) {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9
          const rssMiB = round(readStatusKiB(gateway.pid, 'VmRSS')! / 1024)
          marks.push({ sessions: pairs.length, seconds: round(seconds, 2), rssMiB })
          log(`${pairs.length} paired in ${seconds.toFixed(1)} s; gateway RSS ${rssMiB} MiB`)
        }
      }
    }),
  )
  const pairingSeconds = Number(process.hrtime.bigint() - started) / 1e9
  // Idle: let the heap settle (and a heartbeat or two pass) before reading the RSS.
  await sleep(5000)
  const rssPairedKiB = readStatusKiB(gateway.pid, 'VmRSS')!
  const clientRssMiB = round(process.memoryUsage.rss() / MiB)
  log(`${pairs.length} idle paired sessions: gateway RSS ${round(rssPairedKiB / 1024)} MiB`)
  for (const { host, technician } of pairs.splice(0)) {
    host.end()
    technician.end()
  }
  await sleep(2000)

  const resume = await measureResume(gateway.url, gateway.token, publicKey, cuts)

  const result = {
    bench: 'load',
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version },
    fileLimit,
    pairing: {
      sessions: sessions - failures,
      failures,
      concurrency,
      seconds: round(pairingSeconds, 2),
      pairingsPerSecond: round((sessions - failures) / pairingSeconds),
      marks,
    },
    idle: {
      sessions: sessions - failures,
      gatewayRssBeforeMiB: round(rssIdleGatewayKiB / 1024),
      gatewayRssMiB: round(rssPairedKiB / 1024),
      gatewayKiBPerSession: round((rssPairedKiB - rssIdleGatewayKiB) / (sessions - failures)),
      benchClientRssMiB: clientRssMiB,
    },
    resume,
    targets: {
      linkRestoredP99Ms: 1000,
      idleSessions: 10_000,
      idleRssMiB: 1024,
      pairingsPerSecond: 500,
    },
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
}

/**
 * `cuts` cuts of the technician's link (a reset of every connection, new ones refused) of 0.3 to
 * 2.5 s each, while both sides stream numbered bytes to each other: the time from `restore()` to
 * `link-restored` on both sides, and whether every byte arrived once and in order.
 */
async function measureResume(server: string, token: string, sshKey: string, cuts: number) {
  const proxy = await startCutProxy(Number(new URL(server).port))
  onCleanup(() => proxy.close())
  // The technician goes through the proxy; the PIN is made directly.
  const p = await pair(server, token, sshKey, proxy.url)
  onCleanup(() => {
    p.host.end()
    p.technician.end()
  })
  const streams = [
    countingStream(p.hostStream, p.technicianStream),
    countingStream(p.technicianStream, p.hostStream),
  ]
  const restoredMs: number[] = []
  // The resume keys, sent right after pairing, reach the gateway before the first cut.
  await sleep(500)
  for (let cut = 0; cut < cuts; cut++) {
    const restoredBefore = count(p.hostEvents, 'link-restored') + count(p.technicianEvents, 'link-restored')
    const lostBefore = count(p.technicianEvents, 'link-lost')
    proxy.cut()
    await waitUntil(() => count(p.technicianEvents, 'link-lost') > lostBefore, 10_000, 'link-lost')
    await sleep(300 + Math.random() * 2200)
    const restoredAt = performance.now()
    proxy.restore()
    await waitUntil(
      () =>
        count(p.hostEvents, 'link-restored') + count(p.technicianEvents, 'link-restored') >=
        restoredBefore + 2,
      30_000,
      'link-restored on both sides',
    ).catch((error: unknown) => {
      log(JSON.stringify({ host: p.hostEvents.slice(-4), technician: p.technicianEvents.slice(-4) }))
      throw error
    })
    restoredMs.push(performance.now() - restoredAt)
    await sleep(200)
  }
  const totals = streams.map((stream) => stream.stop())
  await waitUntil(() => totals.every((total, i) => streams[i]!.received() === total), 30_000, 'every byte')
  const sorted = [...restoredMs].sort((a, b) => a - b)
  return {
    cuts,
    cutMs: '300-2500, uniform',
    linkRestoredP50Ms: round(percentile(sorted, 50)),
    linkRestoredP99Ms: round(percentile(sorted, 99)),
    linkRestoredMaxMs: round(sorted.at(-1)!),
    bytesStreamed: totals.reduce((a, b) => a + b, 0),
    bytesLost: streams.reduce((lost, stream, i) => lost + (totals[i]! - stream.received()), 0),
    bytesOutOfOrder: streams.reduce((bad, stream) => bad + stream.wrong(), 0),
  }
}

/** Writes bytes 0, 1, ..., 255, 0, ... into `from` (respecting back-pressure) and checks them out of `to`. */
function countingStream(from: ResumableStream, to: ResumableStream) {
  let sent = 0
  let received = 0
  let wrong = 0
  let running = true
  to.on('data', (chunk: Buffer) => {
    for (const byte of chunk) {
      if (byte !== received % 256) wrong++
      received++
    }
  })
  const chunk = (start: number) => Buffer.from(Array.from({ length: 4096 }, (_, i) => (start + i) % 256))
  // A steady trickle (64 KiB every 20 ms), not a flood: the cuts, not the bandwidth, are measured.
  const timer = setInterval(() => {
    if (from.writableNeedDrain) return
    for (let i = 0; i < 16 && running; i++) {
      from.write(chunk(sent))
      sent += 4096
    }
  }, 20)
  return {
    stop() {
      running = false
      clearInterval(timer)
      return sent
    },
    received: () => received,
    wrong: () => wrong,
  }
}

const count = (events: SessionEvent[], name: string) => events.filter((event) => event.event === name).length

async function waitUntil(predicate: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(2)
  }
}

function fileLimitOf(pid: number): number | undefined {
  try {
    const limits = fs.readFileSync(`/proc/${pid}/limits`, 'utf8')
    const match = /^Max open files\s+(\d+)/m.exec(limits)
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

await runBench(log, main)
