/**
 * The gateway as a rendezvous service (issue 10, STYLE.md rule 19), built `rescue server`
 * processes only, in three parts:
 *   - pairings per second of the gateway itself: a PIN made over HTTP, an end user and its
 *     technician joined over raw WebSockets, both told `paired`. The sealed pairing (X25519, the
 *     words, the SSH keys) runs between the two clients and costs the gateway a few relayed
 *     frames, so it is left out here: with it, this one bench process would measure its own
 *     crypto for both sides (bench/load.ts measures that whole path);
 *     on one gateway over SQLite, one over PostgreSQL, and three over one PostgreSQL database with
 *     every technician on another gateway than its end user;
 *   - three gateways, `--sessions` full sessions (startSession, as `rescue host` and `rescue
 *     connect` run it) held by the first: it is killed with SIGKILL, and the time until every side
 *     of every session has `link-restored` through the other two.
 * Needs PostgreSQL for the last two parts: RESCUE_TEST_PG_URL or --database (a fresh schema is
 * made and dropped). Prints one JSON object on stdout; progress on stderr.
 *
 *   npm run build && npm run bench:gateways -- [--pairings 2000] [--concurrency 50] [--sessions 100]
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import os from 'node:os'
import { parseArgs } from 'node:util'
import type net from 'node:net'
import {
  ADMIN,
  cliEnv,
  cliNodeOptions,
  initAdmin,
  parseJsonLine,
  readLines,
  requireBuiltCli,
  startCliGateway,
  type CliGateway,
} from './cli.js'
import { cpuTimes, readStatusKiB, watchMachine } from './proc.js'
import {
  benchLog,
  makeTempDir,
  onCleanup,
  postJson,
  runBench,
  sleep,
  stopChild,
  track,
  UsageError,
  withTimeout,
} from './lib.js'
import { endUserAddresses, rawPairing } from './raw-pairing.js'
import { startSession, type Session, type SessionEvent } from '../src/core/session/index.js'
import { generateSshKeyPair } from '../src/core/ssh/keys.js'
import { freshPostgresSchema } from '../test/helpers/postgres.js'

const log = benchLog('bench:gateways')
const round = (value: number, digits = 1) => Number(value.toFixed(digits))

/** End users come from many addresses, as the join limits expect. */
const endUserAddress = endUserAddresses(2)

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
}

/** `count` pairings, `concurrency` at a time; the PIN on the end user's gateway, the technician on `technicianOf`. */
async function pairingRate(
  gateways: { url: string; token: string; pid: number }[],
  count: number,
  concurrency: number,
  technicianOf: (index: number) => number,
) {
  const sockets: net.Socket[] = []
  let next = 0
  let failures = 0
  const cpuBefore = gateways.map((gateway) => cpuTimes(gateway.pid)?.own ?? NaN)
  const machine = watchMachine()
  const benchCpuBefore = process.cpuUsage()
  const started = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const index = next++
        const hostGateway = gateways[index % gateways.length]!
        const technicianGateway = gateways[technicianOf(index) % gateways.length]!
        try {
          sockets.push(...(await rawPairing(hostGateway, technicianGateway, endUserAddress())))
        } catch (error) {
          failures++
          if (failures <= 3) log(`pairing failed: ${error instanceof Error ? error.message : String(error)}`)
        }
      }
    }),
  )
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const benchCpu = process.cpuUsage(benchCpuBefore)
  const machineBusyPercent = machine.stop()
  // The gateways' own CPU (user + kernel), whatever else the machine ran meanwhile: the steadier figure.
  const gatewayCpuSeconds = gateways.reduce(
    (sum, gateway, index) => sum + (cpuTimes(gateway.pid)?.own ?? NaN) - cpuBefore[index]!,
    0,
  )
  for (const socket of sockets) socket.destroy()
  await sleep(1000)
  return {
    pairings: count - failures,
    failures,
    concurrency,
    seconds: round(seconds, 2),
    perSecond: round((count - failures) / seconds),
    gatewayCpuMsPerPairing: round((gatewayCpuSeconds * 1000) / Math.max(1, count - failures), 2),
    // What the clients of a pairing cost this process (user + kernel): they share the machine with the gateways.
    benchCpuMsPerPairing: round((benchCpu.user + benchCpu.system) / 1000 / Math.max(1, count - failures), 2),
    machineBusyPercent,
  }
}

/** A fresh organisation and `count` gateways on it, the admin's token good on each. */
async function startService(count: number, env: NodeJS.ProcessEnv, work: string, extraArgs: string[] = []) {
  await initAdmin(`${work}/gw0`, env)
  const gateways: (CliGateway & { token: string })[] = []
  for (let index = 0; index < count; index++) {
    const gateway = await startCliGateway(`${work}/gw${index}`, env, extraArgs)
    onCleanup(() => void gateway.child.kill('SIGKILL'))
    const { token } = await postJson<{ token: string }>(`${gateway.url}/v1/login`, ADMIN)
    gateways.push({ ...gateway, token })
  }
  return gateways
}

/** `count` full sessions on `server` (a list), both sides; resolved once each side holds its resume key. */
async function fullSessions(server: string, token: string, count: number) {
  const { publicKey } = generateSshKeyPair()
  const sides: { session: Session; events: SessionEvent[] }[] = []
  for (let index = 0; index < count; index++) {
    const { pin } = await postJson<{ pin: string }>(`${server.split(',')[0]}/v1/pins`, {}, token)
    const common = { sshPublicKey: publicKey, entry: { pin }, server }
    const host = { events: [] as SessionEvent[] }
    const technician = { events: [] as SessionEvent[] }
    process.env.RESCUE_BIND_ADDRESS = endUserAddress()
    const hostStarted = startSession({ ...common, role: 'host', onEvent: (event) => host.events.push(event) })
    delete process.env.RESCUE_BIND_ADDRESS
    const hostSession = await hostStarted
    const technicianSession = await startSession({
      ...common,
      role: 'technician',
      token,
      onEvent: (event) => technician.events.push(event),
    })
    sides.push(
      { session: hostSession, events: host.events },
      { session: technicianSession, events: technician.events },
    )
  }
  onCleanup(() => sides.forEach(({ session }) => session.end()))
  // Paired, and the resume keys have reached the gateway (they follow `paired` at once).
  await withTimeout(
    (async () => {
      while (!sides.every(({ events }) => events.some((event) => event.event === 'paired'))) await sleep(20)
    })(),
    60_000,
    'every session to pair',
  )
  await sleep(1000)
  return sides
}

/** The gateway's V8 heap (bench/heap-probe.cjs): used before a full collection, and used and reserved after it. */
async function heapOf(pid: number, file: string) {
  fs.rmSync(file, { force: true })
  process.kill(pid, 'SIGUSR2')
  const report = await withTimeout(
    (async () => {
      while (!fs.existsSync(file)) await sleep(100)
      return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<'before' | 'after', NodeJS.MemoryUsage>
    })(),
    300_000,
    'the gateway to write its heap',
  )
  const MiB = 1024 * 1024
  return {
    usedMiB: round(report.before.heapUsed / MiB),
    usedAfterGcMiB: round(report.after.heapUsed / MiB),
    totalAfterGcMiB: round(report.after.heapTotal / MiB),
    rssAfterGcMiB: round(report.after.rss / MiB),
  }
}

/**
 * `count` idle paired sessions on one gateway over SQLite, the clients spread over processes of
 * at most `perProcess` sessions each (each holds two sockets a session): the gateway's RSS and
 * heap with all of them, over its own when idle.
 */
async function idleSessions(count: number, perProcess: number, env: NodeJS.ProcessEnv, work: string) {
  const heapFile = `${work}/heap.json`
  cliNodeOptions.push(
    '--expose-gc',
    '--import',
    pathToFileURL(path.join(import.meta.dirname, 'heap-probe.mjs')).href,
  )
  const [gateway] = await startService(1, { ...env, RESCUE_BENCH_HEAP_FILE: heapFile }, `${work}/idle`)
  cliNodeOptions.splice(-3)
  const limit = Number(
    fs.readFileSync(`/proc/${gateway!.pid}/limits`, 'utf8').match(/Max open files\s+(\d+)/)?.[1],
  )
  // Two sockets a session, and the gateway's own files (database, listening socket, stdio).
  if (2 * count + 64 > limit) {
    throw new UsageError(
      `--idle ${count} needs ${2 * count + 64} files in the gateway; its limit is ${limit} (raise it with ulimit -n, or lower --idle)`,
    )
  }
  await sleep(2000)
  const idleRssKiB = readStatusKiB(gateway!.pid, 'VmRSS') ?? NaN
  const idleHeap = await heapOf(gateway!.pid, heapFile)
  const started = performance.now()
  const workers = Array.from({ length: Math.ceil(count / perProcess) }, (_, index) => {
    const share = Math.min(perProcess, count - index * perProcess)
    const child = track(
      spawn(
        process.execPath,
        [
          ...process.execArgv,
          path.join(import.meta.dirname, 'idle-clients.ts'),
          `--url=${gateway!.url}`,
          `--token=${gateway!.token}`,
          `--count=${share}`,
          '--concurrency=20',
          `--subnet=${10 + index}`,
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      ),
    )
    return new Promise<{ done: number; failures: number }>((resolve, reject) => {
      readLines(child.stdout!, (line) => {
        const message = parseJsonLine(line)
        if (typeof message?.paired === 'number') log(`idle clients ${index}: ${message.paired} paired`)
        if (typeof message?.done === 'number') resolve(message as { done: number; failures: number })
      })
      child.once('exit', (code) => reject(new Error(`idle clients ${index} exited ${code}`)))
    })
  })
  const results = await withTimeout(Promise.all(workers), 60 * 60_000, 'the idle sessions')
  const seconds = (performance.now() - started) / 1000
  const held = results.reduce((sum, result) => sum + result.done, 0)
  // Heartbeats (ping/pong every 5 s) go on; let the gateway settle before reading it.
  await sleep(10_000)
  const rssKiB = readStatusKiB(gateway!.pid, 'VmRSS') ?? NaN
  log(
    `${held} idle sessions held, gateway RSS ${round(rssKiB / 1024)} MiB (idle ${round(idleRssKiB / 1024)})`,
  )
  const heap = await heapOf(gateway!.pid, heapFile)
  const openSessions = held
  return {
    sessions: openSessions,
    failures: results.reduce((sum, result) => sum + result.failures, 0),
    clientProcesses: workers.length,
    secondsToPair: round(seconds, 1),
    gatewayFileLimit: limit,
    rssIdleMiB: round(idleRssKiB / 1024),
    rssMiB: round(rssKiB / 1024),
    rssPerSessionKiB: round((rssKiB - idleRssKiB) / openSessions, 2),
    heapIdle: idleHeap,
    heap,
    heapPerSessionKiB: round(((heap.usedAfterGcMiB - idleHeap.usedAfterGcMiB) * 1024) / openSessions, 2),
    rssFor10000MiB: round((idleRssKiB + ((rssKiB - idleRssKiB) / openSessions) * 10_000) / 1024),
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pairings: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '50' },
      sessions: { type: 'string', default: '100' },
      // The idle part: this many idle paired sessions on one gateway, clients in processes of --per-process.
      idle: { type: 'string', default: '9900' },
      'per-process': { type: 'string', default: '4000' },
      database: { type: 'string', default: process.env.RESCUE_TEST_PG_URL },
      // sqlite,postgres,three,failover,idle: the parts to run (the first four by default).
      parts: { type: 'string', default: 'sqlite,postgres,three,failover' },
      // Writes a V8 CPU profile of each gateway into this folder (node --cpu-prof).
      'cpu-prof': { type: 'string' },
    },
  })
  const pairings = Number(values.pairings)
  const concurrency = Number(values.concurrency)
  const sessions = Number(values.sessions)
  if (![pairings, concurrency, sessions].every((n) => Number.isInteger(n) && n > 0)) {
    throw new UsageError('--pairings, --concurrency and --sessions take positive whole numbers')
  }
  const parts = new Set(values.parts.split(','))
  if (values['cpu-prof']) cliNodeOptions.push('--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`)
  requireBuiltCli()
  const work = makeTempDir('rescue-bench-gateways-')
  const baseEnv = cliEnv(work, work)

  let oneSqlite: Awaited<ReturnType<typeof pairingRate>> | undefined
  if (parts.has('sqlite')) {
    log(`one gateway on SQLite: ${pairings} pairings`)
    const [embedded] = await startService(1, baseEnv, `${work}/sqlite`)
    oneSqlite = await pairingRate([embedded!], pairings, concurrency, (index) => index)
    await stopChild(embedded!.child)
  }

  let idle: Awaited<ReturnType<typeof idleSessions>> | undefined
  if (parts.has('idle')) {
    log(`one gateway on SQLite: ${values.idle} idle paired sessions`)
    idle = await idleSessions(Number(values.idle), Number(values['per-process']), baseEnv, `${work}/idle`)
    log(`idle: ${JSON.stringify(idle)}`)
  }

  let onePostgres: Awaited<ReturnType<typeof pairingRate>> | undefined
  let threePostgres: Awaited<ReturnType<typeof pairingRate>> | undefined
  let failover: Record<string, unknown> | undefined
  if (!['postgres', 'three', 'failover'].some((part) => parts.has(part))) {
    // Only the SQLite part was asked for.
  } else if (!values.database) {
    log('no PostgreSQL (RESCUE_TEST_PG_URL or --database): the many-gateway parts are skipped')
  } else {
    process.env.RESCUE_TEST_PG_URL = values.database
    const keys = {
      RESCUE_SECRET_KEY: randomBytes(32).toString('base64'),
      RESCUE_LOG_KEY: randomBytes(32).toString('base64'),
    }
    const one = await freshPostgresSchema()
    onCleanup(() => one.drop())
    if (parts.has('postgres')) {
      log(`one gateway on PostgreSQL: ${pairings} pairings`)
      const [single] = await startService(
        1,
        { ...baseEnv, ...keys, RESCUE_DATABASE_URL: one.url },
        `${work}/pg1`,
      )
      onePostgres = await pairingRate([single!], pairings, concurrency, (index) => index)
      await stopChild(single!.child)
    }

    if (parts.has('three')) {
      // The same heartbeat as the one gateway's (5 s): every held socket, and each pipe between
      // two gateways, is pinged while the run lasts, and 1 s pings made a slow run cost far more.
      const three = await freshPostgresSchema()
      onCleanup(() => three.drop())
      const env = { ...baseEnv, ...keys, RESCUE_DATABASE_URL: three.url }
      const gateways = await startService(3, env, `${work}/pg3`)
      log(`three gateways on PostgreSQL: ${pairings} pairings, each technician on another gateway`)
      threePostgres = await pairingRate(gateways, pairings, concurrency, (index) => index + 1)
      for (const gateway of gateways) await stopChild(gateway.child)
    }

    if (parts.has('failover')) {
      const three = await freshPostgresSchema()
      onCleanup(() => three.drop())
      const env = { ...baseEnv, ...keys, RESCUE_DATABASE_URL: three.url }
      // A short heartbeat: the time to notice the killed gateway is part of what is measured.
      const gateways = await startService(3, env, `${work}/failover`, ['--heartbeat-ms', '1000'])
      log(`three gateways: ${sessions} full sessions held by the first, which is then killed`)
      const service = gateways.map((gateway) => gateway.url).join(',')
      const sides = await fullSessions(service, gateways[0]!.token, sessions)
      const killedAt = performance.now()
      gateways[0]!.child.kill('SIGKILL')
      const restoredAt: number[] = []
      const pending = new Set(sides)
      const deadline = Date.now() + 60_000
      while (pending.size > 0 && Date.now() < deadline) {
        for (const side of pending) {
          if (side.events.some((event) => event.event === 'link-restored')) {
            restoredAt.push(performance.now() - killedAt)
            pending.delete(side)
          }
        }
        await sleep(5)
      }
      const sorted = restoredAt.sort((a, b) => a - b)
      failover = {
        sessions,
        sidesResumed: sorted.length,
        sidesEnded: sides.filter(({ events }) => events.some((event) => event.event === 'ended')).length,
        msToLinkRestored: {
          p50: round(percentile(sorted, 50)),
          p99: round(percentile(sorted, 99)),
          max: round(sorted.at(-1) ?? NaN),
        },
      }
      for (const gateway of gateways) await stopChild(gateway.child)
    }
  }

  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'gateways',
        machine: {
          cpus: os.cpus().length,
          cpuModel: os.cpus()[0]?.model ?? 'unknown',
          node: process.version,
        },
        loadAverage: os.loadavg().map((value) => round(value, 2)),
        pairingsPerSecond: { oneSqlite, onePostgres, threePostgres },
        failover,
        idleSessions: idle,
        targets: {
          idleSessionsUnder1GiB: 10_000,
          pairingsPerSecondOneGateway: 500,
          threeGatewaysSameTotal: true,
          killedGatewayResumedWithinMs: 5000,
        },
      },
      null,
      2,
    )}\n`,
  )
}

await runBench(log, main)
