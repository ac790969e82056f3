/**
 * `rescue connect --listen` against a private sshd (issue 16), in the same run, with the same
 * OpenSSH clients: per-request latency (one byte echoed on an exec channel; sftp stat, put and get
 * of a small file) and trees of small files (`scp -r`, `rsync -a`). The session is the built CLI:
 * `rescue server`, `rescue host --auto-approve ... --trust-gateway`, `rescue connect --listen 0`.
 * Prints one JSON object on stdout; progress goes to stderr.
 *
 *   npm run build
 *   npx tsx bench/listen.ts [--files 2000] [--ops 40] [--echoes 50] [--cpu-prof DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  cliEnv,
  cliNodeOptions,
  parseJsonLine,
  readLines,
  requireBuiltCli,
  spawnCli,
  startLoggedInGateway,
} from './cli.js'
import { benchLog, makeTempDir, postJson, runBench, subdir, track, withTimeout } from './lib.js'
import { requireOpenSsh, sshOptions, startSshd } from './openssh.js'
import { cpuTimes } from './proc.js'

const log = benchLog('listen')
const round = (value: number, digits = 2) => Number(value.toFixed(digits))

interface Target {
  name: 'sshd' | 'rescue'
  port: number
  user: string
  options: string[]
  /** CPU seconds used so far by the serving side: sshd and its reaped sessions; rescue's gateway, host and connect. */
  serverCpu: () => number
  /** The same for each of rescue's processes by name (gateway, host, connect). */
  parts?: () => Record<string, number>
}

/** CPU seconds used so far by the bench's reaped children: the OpenSSH clients (ssh, sftp, scp, rsync). */
const clientCpu = () => cpuTimes('self')!.children

/** Runs `work` and adds its wall time and the CPU seconds of both sides to the result. */
async function costed<T>(
  target: Target,
  work: () => Promise<T>,
): Promise<{ value: T; serverCpu: number; clientCpu: number; parts?: Record<string, number> }> {
  const server = target.serverCpu()
  const client = clientCpu()
  const parts = target.parts?.()
  const value = await work()
  const partsAfter = target.parts?.()
  return {
    value,
    serverCpu: round(target.serverCpu() - server, 2),
    clientCpu: round(clientCpu() - client, 2),
    ...(parts && partsAfter
      ? {
          parts: Object.fromEntries(
            Object.entries(partsAfter).map(([name, seconds]) => [
              name,
              round(seconds - (parts[name] ?? 0), 2),
            ]),
          ),
        }
      : {}),
  }
}

function waitForEvent(child: ChildProcess, event: string, ms = 30_000): Promise<Record<string, unknown>> {
  return withTimeout(
    new Promise((resolve) => {
      readLines(child.stdout!, (line) => {
        const parsed = parseJsonLine(line)
        if (parsed?.event === event) resolve(parsed)
      })
    }),
    ms,
    `the "${event}" event`,
  )
}

/** Runs a command to its end; returns its wall time in ms. Fails on a non-zero exit. */
function timed(file: string, args: string[], input?: string): Promise<number> {
  const start = process.hrtime.bigint()
  const child = track(spawn(file, args, { stdio: ['pipe', 'ignore', 'pipe'] }))
  let stderr = ''
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString()))
  child.stdin!.end(input ?? '')
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0
        ? resolve(Number(process.hrtime.bigint() - start) / 1e6)
        : reject(new Error(`${file} ${args.join(' ')} exited ${code}: ${stderr.slice(-500)}`)),
    ),
  )
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** CPU seconds used so far per serving process: rescue's gateway, host and connect, or sshd. */
const cpuParts = (target: Target): Record<string, number> => target.parts?.() ?? { sshd: target.serverCpu() }

/** CPU milliseconds per unit of work and process, from two `cpuParts` readings. */
function perUnit(before: Record<string, number>, after: Record<string, number>, units: number) {
  return Object.fromEntries(
    Object.entries(after).map(([name, seconds]) => [
      name,
      round(((seconds - (before[name] ?? 0)) * 1000) / units, 3),
    ]),
  )
}

/** CPU ms per operation and process, filled in by `echo` and `sftpPerOp` (ticks of 10 ms: use many ops). */
type CpuPerOp = Record<string, Record<string, number>>

/**
 * One byte to `cat` on an exec channel (no pty) and back, `samples` times: the median in ms, and
 * the CPU each serving process spent per echo (the warm-up and the connection's set-up left out).
 */
async function echo(target: Target, samples: number, cpuPerOp: CpuPerOp): Promise<number> {
  const child = track(
    spawn('ssh', ['-p', String(target.port), ...target.options, `${target.user}@127.0.0.1`, 'cat'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    }),
  )
  const times: number[] = []
  let waiting: (() => void) | undefined
  child.stdout!.on('data', () => waiting?.())
  let cpuBefore: Record<string, number> = {}
  for (let i = 0; i < samples + 5; i++) {
    if (i === 5) cpuBefore = cpuParts(target)
    const start = process.hrtime.bigint()
    await withTimeout(
      new Promise<void>((resolve) => {
        waiting = resolve
        child.stdin!.write('x')
      }),
      10_000,
      'an echo',
    )
    if (i >= 5) times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  cpuPerOp.echo = perUnit(cpuBefore, cpuParts(target), samples)
  child.stdin!.end()
  await new Promise((resolve) => child.once('exit', resolve))
  return round(median(times), 3)
}

/**
 * sftp -b with `ops` copies of `line` against one with none: the difference per operation, in ms;
 * the same difference of CPU per process goes to `cpuPerOp[name]` (sums of the three rounds).
 */
async function sftpPerOp(
  target: Target,
  line: string,
  ops: number,
  cpuPerOp: CpuPerOp,
  name: string,
): Promise<number> {
  const args = ['-P', String(target.port), ...target.options, '-b', '-', `${target.user}@127.0.0.1`]
  const empty: number[] = []
  const full: number[] = []
  const emptyCpu: Record<string, number> = {}
  const fullCpu: Record<string, number> = {}
  const add = (sum: Record<string, number>, before: Record<string, number>) => {
    for (const [part, seconds] of Object.entries(cpuParts(target)))
      sum[part] = (sum[part] ?? 0) + seconds - (before[part] ?? 0)
  }
  for (let round = 0; round < 3; round++) {
    let before = cpuParts(target)
    empty.push(await timed('sftp', args, 'pwd\n'))
    add(emptyCpu, before)
    before = cpuParts(target)
    full.push(await timed('sftp', args, `pwd\n${`${line}\n`.repeat(ops)}`))
    add(fullCpu, before)
  }
  cpuPerOp[name] = perUnit(emptyCpu, fullCpu, 3 * ops)
  return round((median(full) - median(empty)) / ops, 2)
}

async function measure(target: Target, work: string, remote: string, tree: string, opts: Options) {
  log(`${target.name}: echo, sftp operations, scp -r and rsync -a of ${opts.files} files`)
  const dest = `${target.user}@127.0.0.1`
  const small = path.join(work, 'small.bin')
  const there = path.join(remote, `${target.name}-small.bin`)
  await timed('scp', ['-P', String(target.port), ...target.options, small, `${dest}:${there}`])
  const cpu: Record<string, { serverCpu: number; clientCpu: number; parts?: Record<string, number> }> = {}
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const { value, ...seconds } = await costed(target, work)
    cpu[name] = seconds
    return value
  }
  const cpuPerOp: CpuPerOp = {}
  const result = {
    echoMs: await step('echo', () => echo(target, opts.echoes, cpuPerOp)),
    sftpStatMs: await step('sftpStat', () =>
      sftpPerOp(target, `ls -l ${there}`, opts.ops, cpuPerOp, 'sftpStat'),
    ),
    sftpPutMs: await step('sftpPut', () =>
      sftpPerOp(target, `put ${small} ${there}`, opts.ops, cpuPerOp, 'sftpPut'),
    ),
    sftpGetMs: await step('sftpGet', () =>
      sftpPerOp(target, `get ${there} ${path.join(work, 'got.bin')}`, opts.ops, cpuPerOp, 'sftpGet'),
    ),
    scpTreeSeconds: 0,
    rsyncTreeSeconds: 0,
  }
  const scpTo = path.join(remote, `${target.name}-scp`)
  result.scpTreeSeconds = round(
    (await step('scpTree', () =>
      timed('scp', ['-q', '-r', '-P', String(target.port), ...target.options, tree, `${dest}:${scpTo}`]),
    )) / 1000,
  )
  const rsyncTo = path.join(remote, `${target.name}-rsync`)
  const rsh = ['ssh', '-p', String(target.port), ...target.options].join(' ')
  result.rsyncTreeSeconds = round(
    (await step('rsyncTree', () => timed('rsync', ['-a', '-e', rsh, `${tree}/`, `${dest}:${rsyncTo}/`]))) /
      1000,
  )
  const treeCpu = cpu.scpTree!
  cpuPerOp.scpTreeFile = perUnit({}, treeCpu.parts ?? { sshd: treeCpu.serverCpu }, opts.files)
  return { result, cpu, cpuPerOp }
}

interface Options {
  files: number
  ops: number
  echoes: number
  /** `--direct`: the host asks for a direct link, and the steps wait for it (no gateway hop). */
  direct?: boolean
}

function parseArgs(argv: string[]): Options {
  const options: Options = { files: 2000, ops: 40, echoes: 50 }
  for (let i = 0; i < argv.length; i += 2) {
    // A V8 profile of each rescue process (gateway, host, connect) in DIR.
    if (argv[i] === '--cpu-prof') {
      cliNodeOptions.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(argv[i + 1] ?? '.')}`)
      continue
    }
    if (argv[i] === '--direct') {
      options.direct = true
      i -= 1
      continue
    }
    const name = argv[i]?.replace(/^--/, '') as 'files' | 'ops' | 'echoes'
    const value = Number(argv[i + 1])
    if (!['files', 'ops', 'echoes'].includes(name) || !Number.isInteger(value) || value < 1)
      throw new Error(`bad argument ${argv[i]}`)
    options[name] = value
  }
  return options
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  requireBuiltCli()
  requireOpenSsh(['ssh', 'scp', 'sftp', 'ssh-keygen'])
  const work = makeTempDir('rescue-bench-listen-')
  fs.writeFileSync(path.join(work, 'small.bin'), Buffer.alloc(1024, 7))
  const tree = subdir(work, 'tree')
  for (let i = 0; i < opts.files; i++) {
    const dir = path.join(tree, `d${i % 20}`)
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, `f${i}.txt`), `small file ${i}\n`.repeat(1 + (i % 50)))
  }
  const remote = subdir(work, 'remote')
  const env = cliEnv(work, subdir(work, 'technician-home'))
  const sshd = await startSshd(subdir(work, 'ssh'), subdir(work, 'sshd-home'))
  const gateway = await startLoggedInGateway(path.join(work, 'gateway'), env)
  const { pin } = await postJson<{ pin: string }>(`${gateway.url}/v1/pins`, {}, gateway.token)
  const host = spawnCli(
    [
      'host',
      '--server',
      gateway.url,
      '--pin',
      pin,
      '--json',
      '--auto-approve',
      'exec,files.send,files.receive,files.browse,files.modify',
      '--trust-gateway',
      ...(opts.direct ? ['--direct'] : []),
    ],
    { ...env, HOME: subdir(work, 'host-home'), SHELL: '/bin/sh' },
  )
  host.stdin!.end()
  // Listened for from the start: the link may be up before connect says it is listening.
  const onDirectLink = opts.direct ? waitForEvent(host, 'link-direct', 60_000) : undefined
  await waitForEvent(host, 'waiting')
  const connect = spawnCli(['connect', '--pin', pin, '--listen', '0', '--json'], env)
  connect.stdin!.end()
  const listening = await waitForEvent(connect, 'listening')
  if (onDirectLink) await onDirectLink
  const ssh = (listening.ssh as string).split(' ')
  const key = ssh[ssh.indexOf('-i') + 1]!
  const options = (clientKey: string) => {
    const base = sshOptions({ ...sshd, clientKey })
    return base
  }
  const cpuOf =
    (...pids: number[]) =>
    () =>
      pids.reduce((sum, pid) => {
        const times = cpuTimes(pid)
        return sum + (times ? times.own + times.children : 0)
      }, 0)
  const targets: Target[] = [
    {
      name: 'sshd',
      port: sshd.port,
      user: os.userInfo().username,
      options: options(sshd.clientKey),
      serverCpu: cpuOf(sshd.child.pid!),
    },
    {
      name: 'rescue',
      port: listening.port as number,
      user: 'rescue',
      options: options(key),
      serverCpu: cpuOf(gateway.pid, host.pid!, connect.pid!),
      parts: () => ({
        gateway: cpuOf(gateway.pid)(),
        host: cpuOf(host.pid!)(),
        connect: cpuOf(connect.pid!)(),
      }),
    },
  ]
  const results: Record<string, Awaited<ReturnType<typeof measure>>> = {}
  for (const target of targets) results[target.name] = await measure(target, work, remote, tree, opts)
  const sshdResult = results.sshd!.result
  const rescue = results.rescue!.result
  const ratio = Object.fromEntries(
    Object.keys(rescue).map((key) => [
      key,
      round(
        rescue[key as keyof typeof rescue] / Math.max(sshdResult[key as keyof typeof sshdResult], 0.001),
        2,
      ),
    ]),
  )
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'listen',
        machine: {
          cpus: os.cpus().length,
          node: process.version,
          loadavg: os.loadavg().map((v) => round(v)),
        },
        files: opts.files,
        opsPerBatch: opts.ops,
        sshd: sshdResult,
        rescue,
        ratio,
        cpuSeconds: { sshd: results.sshd!.cpu, rescue: results.rescue!.cpu },
        cpuMsPerOp: { sshd: results.sshd!.cpuPerOp, rescue: results.rescue!.cpuPerOp },
        notes: [
          'echoMs: median round trip of one byte through `ssh HOST cat` (exec channel, no pty).',
          'sftp*Ms: (sftp -b with N operations - sftp -b with none) / N, medians of 3 runs; put/get of a 1 KiB file.',
          'scpTreeSeconds / rsyncTreeSeconds: `scp -q -r` and `rsync -a` of the tree to an empty folder.',
          'cpuSeconds: per step, serverCpu = sshd and its reaped sessions, or rescue gateway + host + connect (each in parts); clientCpu = the OpenSSH clients.',
          'cpuMsPerOp: CPU ms per echo, per sftp operation (the full batches less the empty ones, three rounds) and per file of scp -r, for each serving process (sshd counts its sessions when it reaps them; ticks are 10 ms, so use --ops 100 or more).',
          `rescue: the built CLI, gateway, host (auto-approve, --trust-gateway${opts.direct ? ', --direct' : ''}) and connect --listen on this machine${opts.direct ? ', on a direct link (no gateway hop)' : ''}.`,
        ],
      },
      null,
      2,
    )}\n`,
  )
  track(host)
  track(connect)
}

void runBench(log, main)
