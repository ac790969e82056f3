/**
 * Remote-command benchmark (STYLE.md rule 19): rescue's remote commands against OpenSSH on this
 * machine, in the same run. Prints one JSON object on stdout; progress goes to stderr.
 *
 * 1. Setup time: `rescue connect --pin P --exec true` (the built CLI, with a `rescue host` already
 *    waiting on P and a real `rescue server` gateway) from spawn to exit, against
 *    `ssh ... 127.0.0.1 true` to a private sshd started by the benchmark; plus the bare `node` and
 *    oclif (`rescue --version`) start-up times, and where in the session the time goes.
 * 2. Keystroke echo latency: one byte into a remote shell in a PTY (`stty raw -echo; exec cat`) and
 *    back, through rescue's core API in this process (technician, host, and a gateway in this
 *    process or the built one in its own), against `ssh -tt` to the same sshd, direct and through a
 *    socat TCP relay hop.
 *
 *   npm run build              # the CLI under test is dist/; the echo test runs src/ through tsx
 *   npx tsx bench/remote.ts [--runs 20] [--samples 300] [--pause-ms 5]
 *
 * Needs Linux, openssh-server (/usr/sbin/sshd), openssh-client and socat.
 */
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { ClientChannel } from 'ssh2'
import { initOrganisation, login } from '../src/core/accounts/index.js'
import { api } from '../src/core/client/index.js'
import { startGateway } from '../src/core/gateway/index.js'
import { startHost } from '../src/core/host/index.js'
import { openRemoteShell } from '../src/core/ssh/technician-client.js'
import { openStore } from '../src/core/store/index.js'
import {
  ADMIN,
  cliEnv,
  distLooksStale,
  readLines,
  parseJsonLine,
  repoRoot,
  requireBuiltCli,
  runJs,
  startLoggedInGateway,
} from './cli.js'
import {
  benchLog,
  commandVersion,
  exitOf,
  freePort,
  makeTempDir,
  onCleanup,
  postJson,
  runBench,
  sleep,
  stopChild,
  subdir,
  track,
  UsageError,
  withTimeout,
} from './lib.js'
import { requireOpenSsh, sshArgs, startSshd, type Sshd } from './openssh.js'
import { startTechnician } from '../src/core/technician/index.js'

const PTY = { term: 'xterm-256color', cols: 80, rows: 24 }
/** Typed at the remote shell's prompt: one byte in, the same byte out, nothing else. */
const RAW_CAT = 'stty raw -echo; echo RE""ADY; exec cat\r'
const ECHO_BYTES = 'abcdefghijklmnopqrstuvwxy'
/** Untimed bytes first: the JavaScript on rescue's path is interpreted until V8 has compiled it. */
const ECHO_WARMUP = 100
const SETUP_WARMUP = 2

const log = benchLog('bench:remote')
const round = (value: number, digits: number) => Number(value.toFixed(digits))
const msSince = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6

// ---------------------------------------------------------------------------------------------
// Statistics

type Summary = Record<string, number>

/** Nearest-rank percentiles and the extremes of `values` (ms), rounded to `digits`. */
function summarize(values: number[], percentiles: number[], digits: number): Summary {
  if (values.length === 0) return { n: 0 }
  const sorted = [...values].sort((a, b) => a - b)
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
  const summary: Summary = { n: sorted.length, min: round(sorted[0]!, digits) }
  for (const p of percentiles) summary[`p${p}`] = round(at(p), digits)
  summary.max = round(sorted.at(-1)!, digits)
  summary.mean = round(sorted.reduce((sum, value) => sum + value, 0) / sorted.length, digits)
  return summary
}

const setupSummary = (values: number[]) => summarize(values, [50, 90], 1)
/** Wall times as setupSummary, and the CPU times' (the process's user + system ms). */
const timedSummary = (runs: { ms: number; cpuMs: number }[]) => ({
  ...setupSummary(runs.map((run) => run.ms)),
  cpuMs: setupSummary(runs.map((run) => run.cpuMs)),
})
const echoSummary = (values: number[]) => summarize(values, [50, 90, 99], 3)

// ---------------------------------------------------------------------------------------------
// The rescue CLI and its gateway (the built one, in dist/)

/**
 * CPU milliseconds (user + system) of this process's children that have exited and been waited
 * for, from /proc (Linux; in clock ticks, 10 ms here). The difference across a child's life is that
 * child's CPU, as long as no other child exits meanwhile: on a loaded machine CPU time says more
 * than wall time, which includes waiting for a core.
 */
function childrenCpuMs(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 16 and 17 of proc(5) (cutime, cstime), counted from field 3 here.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** A command's wall time from spawn to exit, and its CPU time. */
interface Timed {
  ms: number
  cpuMs: number
}

/** Times a command from spawn to exit; it must exit 0. */
async function timeCommand(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Timed> {
  const cpuBefore = childrenCpuMs()
  const startedAt = process.hrtime.bigint()
  const child = track(spawn(file, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] }))
  let output = ''
  child.stdout!.on('data', (data: Buffer) => (output += data.toString('utf8')))
  child.stderr!.on('data', (data: Buffer) => (output += data.toString('utf8')))
  const { code, signal } = await withTimeout(exitOf(child), 30_000, `${path.basename(file)} to exit`).catch(
    (error: Error) => {
      throw new Error(`${error.message} (${file} ${args.join(' ')}): ${output.trim()}`)
    },
  )
  const ms = msSince(startedAt)
  if (code !== 0)
    throw new Error(`${path.basename(file)} ${args.join(' ')} -> ${code ?? signal}: ${output.trim()}`)
  return { ms, cpuMs: childrenCpuMs() - cpuBefore }
}

interface RescueSetupRun {
  totalMs: number
  /** connect's CPU ms; undefined when the host exited first (its CPU would be counted in). */
  connectCpuMs?: number
  /** CPU ms of both processes, `rescue host` and `rescue connect`, each from spawn to exit. */
  bothCpuMs: number
  /** Milliseconds from spawning `rescue host` until it printed `waiting` (registered on the gateway). */
  hostStartToWaiting: number
  /** Milliseconds from spawning `rescue connect` to each event, as seen on either side's output. */
  connectWaiting?: number
  connectPaired?: number
  hostPaired?: number
  hostChannelOpen?: number
  hostChannelClose?: number
  hostEnded?: number
}

/** One `rescue connect --exec true` against a fresh `rescue host` already waiting on a fresh PIN. */
async function rescueSetupRun(url: string, token: string, env: NodeJS.ProcessEnv): Promise<RescueSetupRun> {
  const { pin } = await postJson<{ pin: string }>(`${url}/v1/pins`, {}, token)
  const hostArgs = [
    'host',
    '--server',
    url,
    '--pin',
    pin,
    '--json',
    '--auto-approve',
    'exec',
    '--trust-gateway',
  ]
  const hostCpuBefore = childrenCpuMs()
  const hostSpawnedAt = process.hrtime.bigint()
  const host = track(spawn(process.execPath, [runJs, ...hostArgs], { cwd: repoRoot, env, stdio: 'pipe' }))
  host.stdin!.end()
  const hostEvents = new Map<string, bigint>()
  let hostOutput = ''
  host.stderr!.on('data', (data: Buffer) => (hostOutput += data.toString('utf8')))
  let onHostEvent = () => {}
  readLines(host.stdout!, (line, at) => {
    hostOutput += `${line}\n`
    const event = parseJsonLine(line)?.event
    if (typeof event === 'string' && !hostEvents.has(event)) hostEvents.set(event, at)
    onHostEvent()
  })
  const hostExit = exitOf(host)
  try {
    await withTimeout(
      Promise.race([
        new Promise<void>((resolve) => {
          onHostEvent = () => hostEvents.has('waiting') && resolve()
        }),
        hostExit.then(() => Promise.reject(new Error(`rescue host exited early: ${hostOutput.trim()}`))),
      ]),
      20_000,
      'rescue host to wait for the technician',
    )

    const connectCpuBefore = childrenCpuMs()
    const startedAt = process.hrtime.bigint()
    const connect = track(
      spawn(process.execPath, [runJs, 'connect', '--pin', pin, '--exec', 'true', '--json'], {
        cwd: repoRoot,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    const connectEvents = new Map<string, bigint>()
    let connectOutput = ''
    connect.stdout!.on('data', (data: Buffer) => (connectOutput += data.toString('utf8')))
    readLines(connect.stderr!, (line, at) => {
      connectOutput += `${line}\n`
      const event = parseJsonLine(line)?.event
      if (typeof event === 'string' && !connectEvents.has(event)) connectEvents.set(event, at)
    })
    const { code, signal } = await withTimeout(exitOf(connect), 30_000, 'rescue connect to exit')
    const totalMs = msSince(startedAt)
    const hostGone = host.exitCode !== null || host.signalCode !== null
    const connectCpuMs = hostGone ? undefined : childrenCpuMs() - connectCpuBefore
    if (code !== 0) throw new Error(`rescue connect exited ${code ?? signal}: ${connectOutput.trim()}`)
    await withTimeout(hostExit, 10_000, 'rescue host to exit after the session')
    const bothCpuMs = childrenCpuMs() - hostCpuBefore

    const since = (at: bigint | undefined) => (at === undefined ? undefined : Number(at - startedAt) / 1e6)
    return {
      totalMs,
      ...(connectCpuMs !== undefined ? { connectCpuMs } : {}),
      bothCpuMs,
      hostStartToWaiting: Number(hostEvents.get('waiting')! - hostSpawnedAt) / 1e6,
      connectWaiting: since(connectEvents.get('waiting')),
      connectPaired: since(connectEvents.get('paired')),
      hostPaired: since(hostEvents.get('paired')),
      hostChannelOpen: since(hostEvents.get('channel-open')),
      hostChannelClose: since(hostEvents.get('channel-close')),
      hostEnded: since(hostEvents.get('ended')),
    }
  } finally {
    await stopChild(host)
  }
}

// ---------------------------------------------------------------------------------------------
// A socat hop in front of the private sshd

/** socat relaying 127.0.0.1:<new port> to the sshd, one forked relay per connection. */
async function startSocatHop(targetPort: number): Promise<number> {
  const port = await freePort()
  const socat = track(
    spawn(
      'socat',
      [
        '-d',
        '-d',
        `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr,nodelay`,
        `TCP:127.0.0.1:${targetPort},nodelay`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    ),
  )
  let stderr = ''
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socat.stderr!.on('data', (data: Buffer) => {
        stderr += data.toString('utf8')
        if (/listening on/.test(stderr)) resolve()
      })
      socat.once('error', reject)
      socat.once('exit', (code) => reject(new Error(`socat exited ${code}: ${stderr.trim()}`)))
    }),
    5000,
    'socat to listen',
  )
  return port
}

// ---------------------------------------------------------------------------------------------
// Keystroke echo

/** Bytes to and from a remote shell in a PTY. */
interface EchoLink {
  write(data: string): void
  onData(listener: (data: Buffer) => void): void
  close(): Promise<void>
}

interface EchoReport extends Summary {
  /** Chunks that arrived while no byte was expected, or did not hold the expected one. */
  strayChunks: number
  /** Median and worst of the untimed first bytes: how slow a fresh process starts. */
  warmupP50: number
  warmupMax: number
}

/**
 * Turns the remote shell into `stty raw -echo; exec cat`, so each byte sent comes back exactly once,
 * then times `samples` single bytes there and back, `pauseMs` apart, after ECHO_WARMUP untimed ones.
 */
async function measureEcho(link: EchoLink, samples: number, pauseMs: number): Promise<EchoReport> {
  let text = ''
  let stray = 0
  let expected: { byte: number; resolve(at: bigint): void } | undefined
  link.onData((data) => {
    const at = process.hrtime.bigint()
    if (expected && data.includes(expected.byte)) {
      const { resolve } = expected
      expected = undefined
      if (data.length !== 1) stray++
      resolve(at)
      return
    }
    text += data.toString('latin1')
    if (text.length > 65_536) text = text.slice(-1024)
    stray++
  })

  // The typed command line echoes as RE""ADY; only the command's output reads READY.
  link.write(RAW_CAT)
  const deadline = Date.now() + 20_000
  while (!text.includes('READY')) {
    if (Date.now() > deadline)
      throw new Error(
        `the remote shell never ran the echo command; it printed: ${JSON.stringify(text.slice(-300))}`,
      )
    await sleep(10)
  }
  await sleep(300)
  stray = 0

  const roundTrip = (byte: number) =>
    withTimeout(
      new Promise<number>((resolve) => {
        const startedAt = process.hrtime.bigint()
        expected = { byte, resolve: (at) => resolve(Number(at - startedAt) / 1e6) }
        link.write(String.fromCharCode(byte))
      }),
      5000,
      `the echo of ${JSON.stringify(String.fromCharCode(byte))}`,
    )
  const warmup: number[] = []
  const times: number[] = []
  for (let i = 0; i < ECHO_WARMUP + samples; i++) {
    const ms = await roundTrip(ECHO_BYTES.charCodeAt(i % ECHO_BYTES.length))
    ;(i < ECHO_WARMUP ? warmup : times).push(ms)
    await sleep(pauseMs)
  }
  const cold = summarize(warmup, [50], 3)
  return { ...echoSummary(times), strayChunks: stray, warmupP50: cold.p50!, warmupMax: cold.max! }
}

/** `ssh -tt` with pipes: ssh forwards stdin to a remote PTY running the login shell. */
async function sshEchoLink(sshd: Sshd, port: number): Promise<EchoLink> {
  const child = track(
    spawn('ssh', ['-tt', '-e', 'none', ...sshArgs(sshd, port), '127.0.0.1'], {
      env: { ...process.env, TERM: PTY.term },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  )
  child.stderr!.on('data', (data: Buffer) => log(`ssh: ${data.toString('utf8').trim()}`))
  return {
    write: (data) => child.stdin!.write(data),
    onData: (listener) => child.stdout!.on('data', listener),
    close: () => stopChild(child),
  }
}

/**
 * rescue's own path in this process: technician and host (core API, auto-approving the shell) paired
 * through the gateway at `url`, and a shell in a PTY on the technician's SSH client.
 */
async function rescueEchoLink(url: string, token: string, dir: string, direct = false): Promise<EchoLink> {
  const { pin } = await api.createPin(url, token)
  let ended: string | undefined
  let onDirect!: () => void
  const directUp = new Promise<void>((resolve) => (onDirect = resolve))
  const host = await startHost({
    server: url,
    entry: { pin },
    interactive: false,
    confirmWords: false,
    autoApprove: ['shell'],
    trustGateway: true,
    auditFile: path.join(dir, 'audit.jsonl'),
    ...(direct ? { direct: 'ask' as const } : {}),
    onEvent: (event) => {
      if (event.event === 'ended') ended ??= `host: ${event.reason}`
    },
  })
  const technician = await startTechnician({
    server: url,
    entry: { pin },
    token,
    onEvent: (event) => {
      if (event.event === 'ended') ended ??= `technician: ${event.reason}`
      if (event.event === 'link-direct') onDirect()
    },
  })
  const opened: { channel?: ClientChannel } = {}
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    opened.channel?.close()
    technician.session.end()
    await withTimeout(Promise.all([technician.session.done, host.done]), 5000, 'the rescue session to end')
  }
  onCleanup(close)
  const client = await withTimeout(technician.ssh, 20_000, 'rescue SSH to come up')
  if (direct) await withTimeout(directUp, 15_000, 'the direct link')
  const channel = await withTimeout(openRemoteShell(client, PTY), 20_000, 'the remote shell')
  opened.channel = channel
  channel.on('close', () => {
    if (!closed) log(`the rescue shell closed early${ended ? ` (${ended})` : ''}`)
  })
  return {
    write: (data) => channel.write(data),
    onData: (listener) => channel.on('data', listener),
    close,
  }
}

/** A gateway in this process over a temp store, with an admin logged in (as test/helpers/gateway.ts). */
async function startInProcessGateway(dataDir: string): Promise<{ url: string; token: string }> {
  const store = await openStore({ dataDir })
  onCleanup(() => store.close())
  await initOrganisation(store, ADMIN)
  const gateway = await startGateway({ store, host: '127.0.0.1', port: 0 })
  onCleanup(async () => void (await gateway.close()))
  const { token } = await login(store, ADMIN.email, ADMIN.password)
  return { url: gateway.url, token }
}

async function echoScenario(name: string, open: () => Promise<EchoLink>, samples: number, pauseMs: number) {
  log(`echo: ${name}, ${samples} bytes`)
  const link = await open()
  try {
    const report = await measureEcho(link, samples, pauseMs)
    log(`  p50 ${report.p50} ms, p99 ${report.p99} ms, max ${report.max} ms`)
    return report
  } finally {
    await link.close()
  }
}

// ---------------------------------------------------------------------------------------------

interface Options {
  runs: number
  samples: number
  pauseMs: number
}

function parseArgs(argv: string[]): Options {
  const options: Options = { runs: 20, samples: 300, pauseMs: 5 }
  const names: Record<string, keyof Options> = {
    '--runs': 'runs',
    '--samples': 'samples',
    '--pause-ms': 'pauseMs',
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') {
      process.stderr.write(
        'usage: npx tsx bench/remote.ts [--runs N (setup runs per tool, 20)] [--samples N (echo bytes, 300)] [--pause-ms N (between bytes, 5)]\n',
      )
      process.exit(0)
    }
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined]
    const key = names[flag]
    if (!key) throw new UsageError(`unknown argument ${arg}`)
    const value = inline ?? argv[++i]
    const number = Number(value)
    if (!Number.isInteger(number) || number < (key === 'pauseMs' ? 0 : 1)) {
      throw new UsageError(
        `${flag} wants a ${key === 'pauseMs' ? 'non-negative' : 'positive'} integer, got ${value}`,
      )
    }
    options[key] = number
  }
  return options
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  if (process.platform !== 'linux') throw new Error('this benchmark needs Linux')
  requireBuiltCli()
  requireOpenSsh(['ssh', 'ssh-keygen'])
  if (spawnSync('socat', ['-V'], { timeout: 5000 }).error)
    throw new UsageError('socat not found: install socat')
  const loadBefore = os.loadavg().map((value) => round(value, 2))
  const stale = distLooksStale()
  if (stale) log('warning: src/ has changes newer than dist/: run `npm run build` to measure them')

  const work = makeTempDir('rescue-bench-remote-')
  const home = subdir(work, 'home')
  const env = cliEnv(work, home)

  log('starting a private sshd and a socat hop in front of it')
  const sshd = await startSshd(subdir(work, 'ssh'), home)
  const relayPort = await startSocatHop(sshd.port)

  log('starting the built gateway (rescue server) with an admin logged in')
  const { url: cliGatewayUrl, token: cliToken } = await startLoggedInGateway(path.join(work, 'gateway'), env)

  // -- 1. Setup time ------------------------------------------------------------------------
  const sshTrue = [...sshArgs(sshd, sshd.port), '127.0.0.1', 'true']
  const nodeArgs = {
    bare: ['-e', '0'],
    oclif: [runJs, '--version'],
    imports: [
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(path.join(repoRoot, 'dist', 'commands', 'connect.js'))})`,
    ],
  }
  log(
    `setup: ${SETUP_WARMUP} warm-up runs, then ${options.runs} runs each of rescue connect --exec true and ssh true, interleaved`,
  )
  for (let i = 0; i < SETUP_WARMUP; i++) {
    await rescueSetupRun(cliGatewayUrl, cliToken, env)
    await timeCommand('ssh', sshTrue)
    for (const args of Object.values(nodeArgs)) await timeCommand(process.execPath, args, env)
  }
  const rescueRuns: RescueSetupRun[] = []
  const sshRuns: Timed[] = []
  const baselines: Record<keyof typeof nodeArgs, Timed[]> = { bare: [], oclif: [], imports: [] }
  for (let i = 0; i < options.runs; i++) {
    rescueRuns.push(await rescueSetupRun(cliGatewayUrl, cliToken, env))
    sshRuns.push(await timeCommand('ssh', sshTrue))
    for (const [name, args] of Object.entries(nodeArgs)) {
      baselines[name as keyof typeof nodeArgs].push(await timeCommand(process.execPath, args, env))
    }
    log(
      `  run ${i + 1}: rescue ${rescueRuns.at(-1)!.totalMs.toFixed(0)} ms, ssh ${sshRuns.at(-1)!.ms.toFixed(0)} ms`,
    )
  }
  const phase = (pick: (run: RescueSetupRun) => number | undefined) =>
    setupSummary(rescueRuns.map(pick).filter((value): value is number => value !== undefined))
  const between = (from: keyof RescueSetupRun, to: keyof RescueSetupRun) =>
    phase((run) => (run[from] !== undefined && run[to] !== undefined ? run[to]! - run[from]! : undefined))

  const setup = {
    rescue: {
      command: 'node bin/run.js connect --pin P --exec true --json',
      ...setupSummary(rescueRuns.map((run) => run.totalMs)),
      cpuMs: phase((run) => run.connectCpuMs),
      hostAndConnectCpuMs: phase((run) => run.bothCpuMs),
      phases: {
        spawnToGateway: phase((run) => run.connectWaiting),
        gatewayToPaired: between('connectWaiting', 'connectPaired'),
        pairedToChannelOpen: between('connectPaired', 'hostChannelOpen'),
        channelOpenToClose: between('hostChannelOpen', 'hostChannelClose'),
        channelCloseToExit: phase((run) =>
          run.hostChannelClose === undefined ? undefined : run.totalMs - run.hostChannelClose,
        ),
      },
    },
    ssh: { command: `ssh ${sshTrue.join(' ')}`, ...timedSummary(sshRuns) },
    hostStartToWaiting: {
      command:
        'node bin/run.js host --pin P --json --auto-approve exec --trust-gateway, spawn until "waiting"',
      ...setupSummary(rescueRuns.map((run) => run.hostStartToWaiting)),
    },
    oclifStartup: { command: 'node bin/run.js --version', ...timedSummary(baselines.oclif) },
    nodeStartup: { command: 'node -e 0', ...timedSummary(baselines.bare) },
    connectModuleImport: {
      command: 'node --input-type=module -e "await import(\'dist/commands/connect.js\')"',
      ...timedSummary(baselines.imports),
    },
  }

  // -- 2. Keystroke echo ------------------------------------------------------------------
  const { samples, pauseMs } = options
  // The in-process hosts' shells inherit this process's environment: the same empty HOME as sshd's.
  const realHome = process.env.HOME
  process.env.HOME = home
  onCleanup(() => {
    if (realHome === undefined) delete process.env.HOME
    else process.env.HOME = realHome
  })
  const inProcess = await startInProcessGateway(path.join(work, 'gateway-in-process'))
  const echoDir = subdir(work, 'echo')
  const echo = {
    rescue: await echoScenario(
      'rescue, technician + gateway + host in this process',
      () => rescueEchoLink(inProcess.url, inProcess.token, echoDir),
      samples,
      pauseMs,
    ),
    rescueGatewayProcess: await echoScenario(
      'rescue, technician + host in this process, the built gateway in its own',
      () => rescueEchoLink(cliGatewayUrl, cliToken, echoDir),
      samples,
      pauseMs,
    ),
    rescueDirectLink: await echoScenario(
      'rescue, technician + host in this process on a direct link (--direct), the built gateway in its own',
      () => rescueEchoLink(cliGatewayUrl, cliToken, echoDir, true),
      samples,
      pauseMs,
    ),
    ssh: await echoScenario('ssh -tt, direct', () => sshEchoLink(sshd, sshd.port), samples, pauseMs),
    sshViaRelay: await echoScenario(
      'ssh -tt through a socat hop',
      () => sshEchoLink(sshd, relayPort),
      samples,
      pauseMs,
    ),
  }

  const cpus = os.cpus()
  const result = {
    bench: 'remote',
    setup,
    echo,
    goals: {
      setup: 'rescue connect --exec true no slower than ssh true',
      echo: 'rescue p50 <= 1 ms and p99 <= 3 ms',
    },
    machine: {
      node: process.version,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      os: `${os.type()} ${os.release()}`,
      /** 1, 5 and 15 minute load averages: above the CPU count, other work skews every figure here. */
      loadavgBefore: loadBefore,
      loadavgAfter: os.loadavg().map((value) => round(value, 2)),
      openssh: sshd.version,
      socat: commandVersion('socat', ['-V'], /socat version (\S+)/) ?? 'unknown',
    },
    options: { runs: options.runs, samples, pauseMs, distStale: stale },
    notes: [
      'all times in ms; percentiles are nearest-rank.',
      "remote shells on both sides run with HOME set to an empty temp directory (sshd: SetEnv HOME; rescue: the host's environment), so user rc files do not count: bash sources ~/.bashrc for `ssh host true` but not for rescue's `bash -c true`, and an rc file like pyenv init costs hundreds of ms or blocks on a lock.",
      `setup: wall time from spawn to exit, runs interleaved (rescue, ssh, baselines) after ${SETUP_WARMUP} warm-up rounds. rescue connect is the built CLI (dist/) logged in to a \`rescue server\` on 127.0.0.1 (its own process, plain ws://), with \`rescue host --json --auto-approve exec\` already waiting on a fresh PIN; --json only moves its event lines to stderr, where their arrival times give the phases. ssh goes to a private sshd (UsePAM no) with a fresh ed25519 key and no ssh_config (-F /dev/null, so no ControlMaster).`,
      'setup.rescue.phases: spawnToGateway = spawn until connect prints "waiting", its first event, right after the gateway accepted its WebSocket (node + oclif start-up, module imports, reading the login, SSH key generation, the WebSocket upgrade); gatewayToPaired = until it prints "paired" (the sealed pairing with the host: X25519, commitments, sealed hellos); pairedToChannelOpen = until the host prints channel-open (SSH over the sealed stream, the exec request, consent, spawning the command); channelOpenToClose = the command running; channelCloseToExit = until the connect process has exited (exit status, session end, process teardown). Event times are when the benchmark read the line, so each boundary carries up to a pipe read of delay.',
      "cpuMs: user + system CPU ms of the process, from /proc/self/stat's cutime and cstime around its life (clock ticks, 10 ms): less skewed by a loaded machine than wall time. setup.rescue.cpuMs is connect's (a run where the host exited first is left out); hostAndConnectCpuMs is both processes', each from spawn to exit; ssh's is the ssh client's only (sshd's work is not a child of this process).",
      'oclifStartup, nodeStartup and connectModuleImport are baselines measured in the same rounds: `rescue --version` (node + oclif), bare node, and node importing dist/commands/connect.js and everything it imports, without oclif running a command.',
      `echo: one byte sent, timed until it comes back, ${samples} samples ${pauseMs} ms apart after ${ECHO_WARMUP} untimed ones; the remote PTY runs \`stty raw -echo; exec cat\` in the login shell, so exactly one process reads and writes each byte. rescue uses the core API from src/ (through tsx): startTechnician + openRemoteShell with a ${PTY.cols}x${PTY.rows} PTY, startHost with autoApprove shell; "rescue" has the gateway (startGateway over a temp SQLite store) in the same process, so its three hops share one event loop; "rescueGatewayProcess" uses the built gateway in its own process, as in real use; "rescueDirectLink" is the same with direct: 'ask' (--direct), timed once the direct link is up, so the gateway carries none of the bytes. ssh and sshViaRelay spawn \`ssh -tt\` with pipes; sshViaRelay connects through \`socat TCP-LISTEN,fork\` (nodelay), one extra TCP hop and process, like a gateway without any processing.`,
      "strayChunks counts output chunks that were not exactly the expected byte; 0 means every sample timed exactly one byte there and back. warmupP50 and warmupMax summarise the untimed first bytes (V8 has not compiled rescue's path yet; ssh is C and has no warm-up).",
      ...(stale ? ['dist/ looked older than src/: the setup numbers are of the last build'] : []),
    ],
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
}

await runBench(log, main)
