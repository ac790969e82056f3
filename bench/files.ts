/**
 * File-transfer benchmark (STYLE.md rule 19): `rescue send` and `rescue get` through a live session
 * (the built CLI: a `rescue server` gateway, `rescue host`, `rescue connect --no-shell`) against
 * `scp` to a private sshd on 127.0.0.1, in the same run, with the same file of random bytes. Reports
 * throughput, and the CPU time and memory of every rescue process on the path. Prints one JSON object
 * on stdout; progress goes to stderr.
 *
 *   npm run build              # the CLI under test is dist/
 *   npx tsx bench/files.ts [--size-mib 1024]
 *
 * Needs Linux (/proc), openssh-server (/usr/sbin/sshd) and openssh-client (scp, ssh-keygen).
 */
import { createHash, randomFillSync } from 'node:crypto'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  cliEnv,
  cliNodeOptions,
  distLooksStale,
  parseJsonLine,
  readLines,
  requireBuiltCli,
  spawnCli,
  startLoggedInGateway,
} from './cli.js'
import {
  benchLog,
  commandVersion,
  exitOf,
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
import { requireOpenSsh, sshOptions, startSshd, type Sshd } from './openssh.js'
import { cpuTimes, sampleRss, watchMachine, watchProcess, type ProcessCost } from './proc.js'

const MiB = 1024 * 1024
const RSS_SAMPLE_MS = 50
/** The name the file gets on the far side (the host's HOME for rescue, the sshd's folder for scp). */
const REMOTE_NAME = 'bench-files.bin'

const log = benchLog('bench:files')
const round = (value: number, digits = 1) => Number(value.toFixed(digits))
const secondsSince = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9
/** Megabytes (10^6 bytes) per second, the unit of the goal ("match scp, about 350 MB/s"). */
const megabytesPerSecond = (bytes: number, seconds: number) => round(bytes / 1e6 / seconds)
/** Every transfer gets a minute plus a second per MiB: 1 MB/s would be a failure anyway. */
const transferTimeoutMs = (bytes: number) => 60_000 + (bytes / MiB) * 1000

// ---------------------------------------------------------------------------------------------
// The file and its copies

/** Writes `bytes` random bytes to `file` and returns their SHA-256. */
function writeRandomFile(file: string, bytes: number): string {
  const hash = createHash('sha256')
  const block = Buffer.alloc(8 * MiB)
  const fd = fs.openSync(file, 'w', 0o600)
  try {
    for (let written = 0; written < bytes;) {
      const piece = block.subarray(0, Math.min(block.length, bytes - written))
      randomFillSync(piece)
      hash.update(piece)
      written += fs.writeSync(fd, piece)
    }
  } finally {
    fs.closeSync(fd)
  }
  return hash.digest('hex')
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of fs.createReadStream(file, { highWaterMark: MiB })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Fails loudly unless `copy` holds exactly the source's bytes. */
async function verifyCopy(copy: string, expected: string, what: string): Promise<void> {
  if (!fs.existsSync(copy)) throw new Error(`${what}: ${copy} does not exist`)
  const actual = await sha256File(copy)
  if (actual !== expected) {
    throw new Error(
      `${what}: SHA-256 of ${copy} is ${actual}, the source's is ${expected} (${fs.statSync(copy).size} bytes)`,
    )
  }
}

// ---------------------------------------------------------------------------------------------
// A live rescue session: rescue host and rescue connect, each its own process

/** JSON event lines of a long-running rescue process (from stdout and stderr), and what else it printed. */
class EventLines {
  private readonly events = new Map<string, Record<string, unknown>>()
  private output = ''
  private changed = () => {}

  constructor(
    private readonly child: ChildProcess,
    private readonly name: string,
  ) {
    for (const stream of [child.stdout!, child.stderr!]) {
      readLines(stream, (line) => {
        this.output = `${this.output}${line}\n`.slice(-4000)
        const parsed = parseJsonLine(line)
        if (typeof parsed?.event === 'string' && !this.events.has(parsed.event))
          this.events.set(parsed.event, parsed)
        this.changed()
      })
    }
  }

  /** Resolves with the first `event` line; fails if the process exits first, or after `timeoutMs`. */
  waitFor(event: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const seen = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.changed = () => {
        const found = this.events.get(event)
        if (found) resolve(found)
      }
      this.changed()
      void exitOf(this.child).then(
        ({ code, signal }) =>
          reject(
            new Error(`${this.name} exited (${code ?? signal}) before "${event}": ${this.output.trim()}`),
          ),
        reject,
      )
    })
    return withTimeout(seen, timeoutMs, `${this.name} to print "${event}"`).catch((error: Error) => {
      throw new Error(`${error.message}; it printed: ${this.output.trim().slice(-1500)}`)
    })
  }
}

interface Session {
  host: ChildProcess
  connect: ChildProcess
  /** The environment of rescue send / get: the technician's, with connect's runtime folder. */
  technicianEnv: NodeJS.ProcessEnv
}

/**
 * A session between `rescue host` (files land in `hostHome`) and `rescue connect --no-shell`, ready
 * once connect's control socket exists in its private runtime folder.
 */
async function startSession(
  gateway: { url: string; token: string },
  env: NodeJS.ProcessEnv,
  dirs: { hostHome: string; hostRuntime: string; technicianRuntime: string },
  direct: boolean,
): Promise<Session> {
  const { pin } = await postJson<{ pin: string }>(`${gateway.url}/v1/pins`, {}, gateway.token)
  const hostEnv = { ...env, HOME: dirs.hostHome, SHELL: '/bin/sh', XDG_RUNTIME_DIR: dirs.hostRuntime }
  const host = spawnCli(
    [
      'host',
      '--server',
      gateway.url,
      '--pin',
      pin,
      '--json',
      '--auto-approve',
      'files.send,files.receive',
      '--trust-gateway',
      ...(direct ? ['--direct'] : []),
    ],
    hostEnv,
  )
  host.stdin!.end()
  const hostLines = new EventLines(host, 'rescue host')
  await hostLines.waitFor('waiting', 20_000)

  const technicianEnv = { ...env, XDG_RUNTIME_DIR: dirs.technicianRuntime }
  const connect = spawnCli(['connect', '--pin', pin, '--no-shell', '--json'], technicianEnv)
  connect.stdin!.end()
  const paired = await new EventLines(connect, 'rescue connect').waitFor('paired', 20_000)
  if (typeof paired.sessionId !== 'string') throw new Error(`connect's paired event has no sessionId`)
  const socket = path.join(dirs.technicianRuntime, 'rescue', `${paired.sessionId}.sock`)
  const deadline = Date.now() + 10_000
  while (!fs.existsSync(socket)) {
    if (Date.now() > deadline) throw new Error(`timed out after 10000 ms waiting for ${socket}`)
    if (connect.exitCode !== null) throw new Error('rescue connect exited before making its control socket')
    await sleep(20)
  }
  if (direct) await hostLines.waitFor('link-direct', 15_000)
  return { host, connect, technicianEnv }
}

interface RescueTransfer {
  /** Wall time from spawning `rescue send` / `rescue get` until it exited. */
  seconds: number
  MBps: number
  /** The `seconds` the command reports itself: from its start-up's end to the hashes compared. */
  reportedSeconds: number
  reportedMBps: number
  /** The gateway, rescue host and rescue connect, watched from the command's spawn to its exit. */
  gateway: ProcessCost
  host: ProcessCost
  connect: ProcessCost
  /** The send / get process itself (CPU from this process's reaped-children times). */
  command: { cpuSeconds: number; cpuPercent: number; peakRssMiB: number }
  /** CPU seconds of all four processes together. */
  cpuSecondsTotal: number
  /** How busy all the machine's CPUs were meanwhile, whoever used them (100 = every CPU, all the time). */
  machineBusyPercent: number
}

/** Runs `rescue ARGS --json` to its end while watching the session's processes; it must exit 0. */
async function timeRescueCommand(
  args: string[],
  env: NodeJS.ProcessEnv,
  watched: { gateway: number; host: number; connect: number },
  bytes: number,
): Promise<RescueTransfer & { sha256: unknown }> {
  const watches = {
    gateway: watchProcess(watched.gateway, RSS_SAMPLE_MS),
    host: watchProcess(watched.host, RSS_SAMPLE_MS),
    connect: watchProcess(watched.connect, RSS_SAMPLE_MS),
  }
  const machine = watchMachine()
  const reapedBefore = cpuTimes('self')!.children
  const startedAt = process.hrtime.bigint()
  const child = spawnCli(args, env)
  child.stdin!.end()
  // The command's own memory; the first sample is its start, so only the peak means anything.
  let commandRss: { stop(): { rssPeakMiB: number } } | undefined
  try {
    commandRss = sampleRss(child.pid!, RSS_SAMPLE_MS)
  } catch {
    commandRss = undefined
  }
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (data: Buffer) => (stdout += data.toString('utf8')))
  child.stderr!.on('data', (data: Buffer) => (stderr = `${stderr}${data.toString('utf8')}`.slice(-4000)))
  let exit: Awaited<ReturnType<typeof exitOf>>
  try {
    exit = await withTimeout(exitOf(child), transferTimeoutMs(bytes), `rescue ${args[0]} to finish`)
  } finally {
    commandRss?.stop()
    for (const watch of Object.values(watches)) watch.stop()
  }
  const seconds = secondsSince(startedAt)
  const machineBusyPercent = machine.stop()
  const costs = {
    gateway: watches.gateway.stop(),
    host: watches.host.stop(),
    connect: watches.connect.stop(),
  }
  // 'exit' fires once node has reaped the child, so its CPU time is in this process's children's.
  const commandCpu = cpuTimes('self')!.children - reapedBefore
  if (exit.code !== 0) {
    throw new Error(`rescue ${args.join(' ')} -> ${exit.code ?? exit.signal}: ${(stdout + stderr).trim()}`)
  }
  const report = stdout
    .split('\n')
    .map(parseJsonLine)
    .findLast((line) => line !== undefined)
  if (typeof report?.seconds !== 'number' || report.bytes !== bytes) {
    throw new Error(`rescue ${args[0]} printed no report of ${bytes} bytes: ${stdout.trim()}`)
  }
  const command = {
    cpuSeconds: round(commandCpu, 2),
    cpuPercent: round((commandCpu / seconds) * 100),
    peakRssMiB: commandRss?.stop().rssPeakMiB ?? Number.NaN,
  }
  return {
    seconds: round(seconds, 3),
    MBps: megabytesPerSecond(bytes, seconds),
    reportedSeconds: report.seconds,
    reportedMBps: megabytesPerSecond(bytes, report.seconds),
    ...costs,
    command,
    cpuSecondsTotal: round(
      costs.gateway.cpuSeconds + costs.host.cpuSeconds + costs.connect.cpuSeconds + command.cpuSeconds,
      2,
    ),
    machineBusyPercent,
    sha256: report.sha256,
  }
}

async function rescueTransfers(
  source: { file: string; sha256: string; bytes: number },
  gateway: { url: string; token: string; pid: number },
  env: NodeJS.ProcessEnv,
  work: string,
  direct: boolean,
): Promise<{ send: RescueTransfer; get: RescueTransfer }> {
  const hostHome = subdir(work, 'host-home')
  const dirs = {
    hostHome,
    hostRuntime: subdir(work, 'host-runtime', 0o700),
    technicianRuntime: subdir(work, 'technician-runtime', 0o700),
  }
  log('rescue: starting rescue host and rescue connect --no-shell')
  const session = await startSession(gateway, env, dirs, direct)
  try {
    const watched = { gateway: gateway.pid, host: session.host.pid!, connect: session.connect.pid! }
    const transfer = async (direction: 'send' | 'get', from: string, to: string, copy: string) => {
      log(`rescue ${direction}: ${source.bytes / MiB} MiB`)
      const from_ = process.hrtime.bigint()
      const { sha256, ...result } = await timeRescueCommand(
        [direction, '--json', from, to],
        session.technicianEnv,
        watched,
        source.bytes,
      )
      // CLOCK_MONOTONIC in µs, the clock of --cpu-prof's timestamps: slices each profile per transfer.
      if (cliNodeOptions.includes('--cpu-prof'))
        log(`  profile window ${direction}: ${from_ / 1000n} ${process.hrtime.bigint() / 1000n} µs`)
      if (sha256 !== source.sha256) throw new Error(`rescue ${direction} reported SHA-256 ${String(sha256)}`)
      await verifyCopy(copy, source.sha256, `rescue ${direction}`)
      log(
        `  ${result.seconds} s, ${result.MBps} MB/s (reported ${result.reportedSeconds} s); gateway CPU ${result.gateway.cpuPercent}%, host ${result.host.cpuPercent}%, connect ${result.connect.cpuPercent}%, ${direction} ${result.command.cpuPercent}%; machine ${result.machineBusyPercent}% busy`,
      )
      return result
    }
    const remoteCopy = path.join(hostHome, REMOTE_NAME)
    const send = await transfer('send', source.file, REMOTE_NAME, remoteCopy)
    const localCopy = path.join(work, 'rescue-get.bin')
    const get = await transfer('get', REMOTE_NAME, localCopy, localCopy)
    fs.rmSync(remoteCopy)
    fs.rmSync(localCopy)
    return { send, get }
  } finally {
    await stopChild(session.connect)
    await stopChild(session.host)
  }
}

// ---------------------------------------------------------------------------------------------
// The reference: scp to the private sshd

interface ScpTransfer {
  seconds: number
  MBps: number
  /** scp and the ssh it runs (reaped children of this process). */
  clientCpuSeconds: number
  /** sshd's session processes for the connection (reaped children of the listening sshd). */
  serverCpuSeconds: number
  cpuSecondsTotal: number
  /** How busy all the machine's CPUs were meanwhile, whoever used them (100 = every CPU, all the time). */
  machineBusyPercent: number
}

/** The sshd's waited-for children's CPU time, once it has no child left (the session ended and was reaped). */
async function sshdReapedCpu(sshd: Sshd): Promise<number> {
  const pid = sshd.child.pid!
  const deadline = Date.now() + 10_000
  for (;;) {
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
    if (children === '') return cpuTimes(pid)!.children
    if (Date.now() > deadline) throw new Error(`timed out waiting for sshd to reap its session (${children})`)
    await sleep(20)
  }
}

async function timeScp(sshd: Sshd, from: string, to: string, bytes: number): Promise<ScpTransfer> {
  const serverBefore = await sshdReapedCpu(sshd)
  const machine = watchMachine()
  const clientBefore = cpuTimes('self')!.children
  const startedAt = process.hrtime.bigint()
  const child = track(
    spawn('scp', ['-q', '-P', String(sshd.port), ...sshOptions(sshd), from, to], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
  let output = ''
  for (const stream of [child.stdout!, child.stderr!])
    stream.on('data', (data: Buffer) => (output += data.toString('utf8')))
  const { code, signal } = await withTimeout(exitOf(child), transferTimeoutMs(bytes), 'scp to finish')
  const seconds = secondsSince(startedAt)
  const machineBusyPercent = machine.stop()
  const client = cpuTimes('self')!.children - clientBefore
  if (code !== 0) throw new Error(`scp ${from} ${to} -> ${code ?? signal}: ${output.trim()}`)
  const server = (await sshdReapedCpu(sshd)) - serverBefore
  return {
    seconds: round(seconds, 3),
    MBps: megabytesPerSecond(bytes, seconds),
    clientCpuSeconds: round(client, 2),
    serverCpuSeconds: round(server, 2),
    cpuSecondsTotal: round(client + server, 2),
    machineBusyPercent,
  }
}

async function scpTransfers(
  source: { file: string; sha256: string; bytes: number },
  sshd: Sshd,
  sshdHome: string,
  work: string,
): Promise<{ send: ScpTransfer; get: ScpTransfer }> {
  const remoteCopy = path.join(sshdHome, REMOTE_NAME)
  const localCopy = path.join(work, 'scp-get.bin')
  log(`scp upload: ${source.bytes / MiB} MiB`)
  const send = await timeScp(sshd, source.file, `127.0.0.1:${remoteCopy}`, source.bytes)
  await verifyCopy(remoteCopy, source.sha256, 'scp upload')
  log(`  ${send.seconds} s, ${send.MBps} MB/s; machine ${send.machineBusyPercent}% busy`)
  log(`scp download: ${source.bytes / MiB} MiB`)
  const get = await timeScp(sshd, `127.0.0.1:${remoteCopy}`, localCopy, source.bytes)
  await verifyCopy(localCopy, source.sha256, 'scp download')
  log(`  ${get.seconds} s, ${get.MBps} MB/s; machine ${get.machineBusyPercent}% busy`)
  fs.rmSync(remoteCopy)
  fs.rmSync(localCopy)
  return { send, get }
}

// ---------------------------------------------------------------------------------------------

interface Options {
  sizeMiB: number
  /** `--direct`: the host asks for a direct link, and the transfers wait for it. */
  direct: boolean
  /** A folder for a CPU profile of every rescue process (node --cpu-prof), or none. */
  cpuProf?: string
  /** More options for every rescue process's node (--node-option, repeatable), e.g. --require a probe. */
  nodeOptions: string[]
}

function parseArgs(argv: string[]): Options {
  const options: Options = { sizeMiB: 1024, nodeOptions: [], direct: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') {
      process.stderr.write(
        'usage: npx tsx bench/files.ts [--size-mib N (the file each tool sends and fetches, 1024)] [--cpu-prof DIR (profile every rescue process into DIR)] [--node-option OPT (for every rescue process, repeatable)] [--direct (rescue on a direct link, not through the gateway)]\n',
      )
      process.exit(0)
    }
    if (arg === '--direct') {
      options.direct = true
      continue
    }
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined]
    const value = inline ?? argv[++i]
    if (flag === '--size-mib') {
      options.sizeMiB = Number(value)
      if (!Number.isInteger(options.sizeMiB) || options.sizeMiB <= 0)
        throw new UsageError(`--size-mib wants a positive integer, got ${value}`)
    } else if (flag === '--node-option') {
      if (!value) throw new UsageError('--node-option wants a node option')
      options.nodeOptions.push(value)
    } else if (flag === '--cpu-prof') {
      if (!value) throw new UsageError('--cpu-prof wants a folder')
      options.cpuProf = path.resolve(value)
    } else {
      throw new UsageError(`unknown argument ${arg}`)
    }
  }
  return options
}

async function main(): Promise<void> {
  const { sizeMiB, cpuProf, nodeOptions, direct } = parseArgs(process.argv.slice(2))
  cliNodeOptions.push(...nodeOptions)
  if (process.platform !== 'linux') throw new Error('this benchmark reads /proc and needs Linux')
  requireBuiltCli()
  requireOpenSsh(['ssh', 'scp', 'ssh-keygen'])
  const loadBefore = os.loadavg().map((value) => round(value, 2))
  if (cpuProf) {
    fs.mkdirSync(cpuProf, { recursive: true })
    cliNodeOptions.push('--cpu-prof', `--cpu-prof-dir=${cpuProf}`)
    log(`profiling every rescue process into ${cpuProf}: the figures pay for it`)
  }
  const stale = distLooksStale()
  if (stale) log('warning: src/ has changes newer than dist/: run `npm run build` to measure them')

  const bytes = sizeMiB * MiB
  const work = makeTempDir('rescue-bench-files-')
  // At most three copies at once: the source, the far side's and the one fetched back.
  const { bavail, bsize } = fs.statfsSync(work)
  if (bavail * bsize < 3 * bytes + 256 * MiB) {
    throw new UsageError(
      `${work} has ${Math.floor((bavail * bsize) / MiB)} MiB free; ${sizeMiB} MiB needs ${3 * sizeMiB + 256} (use a smaller --size-mib)`,
    )
  }
  const sshdHome = subdir(work, 'sshd-home')
  const env = cliEnv(work, subdir(work, 'technician-home'))

  log(`writing ${sizeMiB} MiB of random bytes`)
  const file = path.join(work, 'source.bin')
  const source = { file, bytes, sha256: writeRandomFile(file, bytes) }
  onCleanup(() => fs.rmSync(file, { force: true }))

  log('starting a private sshd and the built gateway (rescue server) with an admin logged in')
  const sshd = await startSshd(subdir(work, 'ssh'), sshdHome)
  const gateway = await startLoggedInGateway(path.join(work, 'gateway'), env)

  const rescue = await rescueTransfers(source, gateway, env, work, direct)
  const scp = await scpTransfers(source, sshd, sshdHome, work)

  const cpus = os.cpus()
  const result = {
    bench: 'files',
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      os: `${os.type()} ${os.release()}`,
      node: process.version,
      openssh: sshd.version,
      opensshClient: commandVersion('ssh', ['-V'], /(OpenSSH_[^,\s]+)/) ?? 'unknown',
      /** 1, 5 and 15 minute load averages: above the CPU count, other work skews every figure here. */
      loadavgBefore: loadBefore,
      loadavgAfter: os.loadavg().map((value) => round(value, 2)),
    },
    sizeBytes: bytes,
    rescue,
    scp,
    ratio: {
      send: round(rescue.send.MBps / scp.send.MBps, 3),
      get: round(rescue.get.MBps / scp.get.MBps, 3),
    },
    goal: 'rescue send / get match scp (ratio 1), about 350 MB/s on this machine',
    options: { sizeMiB, direct, distStale: stale, cpuProf: cpuProf ?? null, nodeOptions },
    notes: [
      'MBps is 10^6 bytes per second over `seconds`, the wall time from spawning the command until it exited (node and oclif start-up, the session or SSH set-up, the copy and, for rescue, the SHA-256 compared on both ends); ratio = rescue MBps / scp MBps.',
      "rescue: the built CLI (dist/). `rescue server` on 127.0.0.1 (plain ws://), `rescue host --json --auto-approve files.send,files.receive --trust-gateway` with HOME in a temp folder (files land there), `rescue connect --no-shell --json` holding the session, then `rescue send --json FILE NAME` and `rescue get --json NAME COPY` on connect's control socket. reportedSeconds is the command's own `seconds` (from its start, after node's start-up, until the hashes agreed).",
      `per-process figures are watched from the command's spawn to its exit: cpuSeconds = utime + stime from /proc/<pid>/stat, cpuKernelSeconds the stime part (on loopback a socket write also does the receiving side's TCP work); cpuPercent = cpuSeconds / seconds, in % of one CPU; rssBeforeMiB is VmRSS at the spawn, peakRssMiB the highest VmRSS sampled every ${RSS_SAMPLE_MS} ms, kernelPeakMiB the kernel's VmHWM after resetting it then. command is the send / get process itself (its CPU from this process's reaped-children times, so exact; its peak RSS sampled).`,
      `scp: \`scp -q\` (${sshd.version}; since 9.0 scp speaks SFTP) to a private sshd on 127.0.0.1 running as this user with fresh ed25519 keys and internal-sftp, no ssh config (-F /dev/null); upload then download. clientCpuSeconds is scp and its ssh, serverCpuSeconds sshd's session processes (reaped children of the listening sshd).`,
      'machineBusyPercent: how busy all CPUs were during the transfer, from /proc/stat (all but idle and iowait), whoever used them; near 100 the transfer was short of CPU, and where its own processes add up to much less, other work on the machine took the rest.',
      'the source file is random bytes, written just before, so both tools read it from the page cache; every copy is checked against its SHA-256 (node:crypto) and removed after use. The rescue transfers run first, then scp.',
      ...(stale ? ['dist/ looked older than src/: the rescue numbers are of the last build'] : []),
    ],
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
}

await runBench(log, main)
