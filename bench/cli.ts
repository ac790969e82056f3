/**
 * The built rescue CLI (bin/run.js over dist/) as the benches run it: a private environment, one-shot
 * commands, JSON lines from long-running ones, and a `rescue server` gateway with an admin logged in.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { exitOf, postJson, track, UsageError, withTimeout } from './lib.js'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const runJs = path.join(repoRoot, 'bin', 'run.js')

/** The throwaway admin of every bench gateway. */
export const ADMIN = {
  email: 'bench@example.com',
  password: 'bench-password-not-secret',
  name: 'Bench Technician',
  organisation: 'Bench',
}

/** Calls `onLine` with every complete line of `stream` and the time it arrived. */
export function readLines(stream: NodeJS.ReadableStream, onLine: (line: string, at: bigint) => void): void {
  let buffered = ''
  stream.on('data', (data: Buffer) => {
    const at = process.hrtime.bigint()
    buffered += data.toString('utf8')
    let newline: number
    while ((newline = buffered.indexOf('\n')) >= 0) {
      onLine(buffered.slice(0, newline), at)
      buffered = buffered.slice(newline + 1)
    }
  })
}

export function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.trimStart().startsWith('{')) return undefined
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return undefined
  }
}

/**
 * The environment of every rescue process a bench starts: temp XDG directories, the file credential
 * store, and HOME as `home`, so nothing of the user's is read or touched.
 */
export function cliEnv(work: string, home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const key of Object.keys(env)) {
    // RESCUE_* would override flags; NODE_ENV=test makes oclif load src/ through tsx instead of dist/.
    if (key.startsWith('RESCUE_') || key === 'NODE_ENV' || key.startsWith('VITEST')) delete env[key]
  }
  for (const name of ['config', 'data', 'state', 'cache'])
    fs.mkdirSync(path.join(work, name), { recursive: true })
  return {
    ...env,
    XDG_CONFIG_HOME: path.join(work, 'config'),
    XDG_DATA_HOME: path.join(work, 'data'),
    XDG_STATE_HOME: path.join(work, 'state'),
    XDG_CACHE_HOME: path.join(work, 'cache'),
    HOME: home,
    RESCUE_CREDENTIAL_STORE: 'file',
    NO_COLOR: '1',
  }
}

/**
 * Options for node itself in every rescue process spawned from now on, such as `--cpu-prof`
 * (which node does not take from NODE_OPTIONS).
 */
export const cliNodeOptions: string[] = []

/** Spawns `node bin/run.js ARGS` with pipes, stopped at the end if it still runs. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return track(
    spawn(process.execPath, [...cliNodeOptions, runJs, ...args], { cwd: repoRoot, env, stdio: 'pipe' }),
  )
}

/** Runs one rescue command to its end; resolves with its stdout, rejects unless it exits 0. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  stdin = '',
  timeoutMs = 30_000,
): Promise<string> {
  const child = spawnCli(args, env)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (data: Buffer) => (stdout += data.toString('utf8')))
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString('utf8')))
  child.stdin!.end(stdin)
  const done = exitOf(child).then(({ code }) => {
    if (code !== 0) throw new Error(`rescue ${args[0]} exited ${code}: ${(stderr || stdout).trim()}`)
    return stdout
  })
  return withTimeout(done, timeoutMs, `rescue ${args.join(' ')}`)
}

export interface CliGateway {
  child: ChildProcess
  pid: number
  url: string
}

/** `rescue server` on 127.0.0.1 and a free port, resolved once it prints its URL. */
export async function startCliGateway(
  dataDir: string,
  env: NodeJS.ProcessEnv,
  extraArgs: string[] = [],
): Promise<CliGateway> {
  const child = spawnCli(
    ['server', '--data', dataDir, '--host', '127.0.0.1', '--port', '0', '--json', ...extraArgs],
    env,
  )
  child.stdin!.end()
  let stderr = ''
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString('utf8')))
  const url = await withTimeout(
    new Promise<string>((resolve, reject) => {
      readLines(child.stdout!, (line) => {
        const url = parseJsonLine(line)?.url
        if (typeof url === 'string') resolve(url)
      })
      child.once('error', reject)
      child.once('exit', (code) => reject(new Error(`rescue server exited ${code}: ${stderr.trim()}`)))
    }),
    20_000,
    'rescue server to print its URL',
  )
  return { child, pid: child.pid!, url }
}

/**
 * A fresh organisation in `dataDir` (`rescue admin init`), its gateway, and ADMIN logged in twice:
 * by `rescue login` for the CLI processes run with `env`, and over HTTP for the bench's own calls.
 */
/** `rescue admin init` of ADMIN's organisation in `dataDir` (or the database `env` names). */
export async function initAdmin(dataDir: string, env: NodeJS.ProcessEnv): Promise<void> {
  await runCli(
    [
      'admin',
      'init',
      '--data',
      dataDir,
      '--email',
      ADMIN.email,
      '--name',
      ADMIN.name,
      '--organisation',
      ADMIN.organisation,
      '--password-stdin',
    ],
    env,
    ADMIN.password,
  )
}

export async function startLoggedInGateway(
  dataDir: string,
  env: NodeJS.ProcessEnv,
): Promise<CliGateway & { token: string }> {
  await initAdmin(dataDir, env)
  const gateway = await startCliGateway(dataDir, env)
  await runCli(
    ['login', '--server', gateway.url, '--email', ADMIN.email, '--password-stdin', '--json'],
    env,
    ADMIN.password,
  )
  const { token } = await postJson<{ token: string }>(`${gateway.url}/v1/login`, ADMIN)
  return { ...gateway, token }
}

/** Stops with a usage error when dist/ has not been built. */
export function requireBuiltCli(): void {
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'commands', 'connect.js'))) {
    throw new UsageError('dist/ is missing: build the CLI first with `npm run build`')
  }
}

/** The newest .ts under src/ (tests aside) is newer than the built CLI: the numbers would be of old code. */
export function distLooksStale(): boolean {
  const built = fs.statSync(path.join(repoRoot, 'dist', 'commands', 'connect.js')).mtimeMs
  const newer = (dir: string): boolean =>
    fs.readdirSync(dir, { withFileTypes: true }).some((entry) => {
      const file = path.join(dir, entry.name)
      if (entry.isDirectory()) return newer(file)
      return (
        /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) && fs.statSync(file).mtimeMs > built
      )
    })
  return newer(path.join(repoRoot, 'src'))
}
