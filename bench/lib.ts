/**
 * What every bench script needs around its measurements: a deadline on each wait, children and
 * temp dirs that are released whatever happens (normal end, error, Ctrl-C), a free port, a JSON
 * POST, and the run-main-then-clean-up frame with its exit codes.
 */
import { spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

/** A mistake in the bench's own arguments: exit status 2. */
export class UsageError extends Error {}

/** A logger to stderr with the bench's name, so stdout stays one JSON object. */
export const benchLog = (name: string) => (message: string) => process.stderr.write(`[${name}] ${message}\n`)

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Rejects with a clear message if `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// Resources to release whatever happens.
const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
/** Other things to undo (sockets, in-process servers, /run/sshd), last registered first. */
const undo: Array<() => Promise<void> | void> = []

/** Registers something to undo at the end, before children are stopped and temp dirs removed. */
export function onCleanup(step: () => Promise<void> | void): void {
  undo.push(step)
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child)
    return
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill(signal)
  try {
    await withTimeout(exited, 3000, `${child.spawnfile} to exit`)
  } catch {
    child.kill('SIGKILL')
    await withTimeout(exited, 2000, `${child.spawnfile} to die`).catch(() => undefined)
  }
  children.delete(child)
}

async function cleanup(log: (message: string) => void): Promise<void> {
  while (undo.length > 0) {
    try {
      await withTimeout(Promise.resolve(undo.pop()!()), 5000, 'cleanup')
    } catch (error) {
      log(`cleanup: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  await Promise.all([...children].map((child) => stopChild(child)))
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

/** Makes (if need be) and returns `parent/name`. */
export function subdir(parent: string, name: string, mode?: number): string {
  const dir = path.join(parent, name)
  fs.mkdirSync(dir, { recursive: true, ...(mode === undefined ? {} : { mode }) })
  return dir
}

export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

/** Stops `child` at the end if it still runs. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  // A child that cannot be spawned emits 'error'; the bench's waits report it.
  child.on('error', () => undefined)
  return child
}

/** Resolves when `child` exits (at once if it already has); rejects if it cannot be spawned. */
export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  }
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
}

/** The version `pattern` finds in what `file ARGS` prints; undefined when the tool is missing. */
export function commandVersion(file: string, args: string[], pattern: RegExp): string | undefined {
  const result = spawnSync(file, args, { encoding: 'utf8', timeout: 5000 })
  if (result.error) return undefined
  return pattern.exec(`${result.stdout}${result.stderr}`)?.[1] ?? 'unknown'
}

export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export async function postJson<T>(url: string, body: unknown, token?: string): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`POST ${url} -> ${response.status}: ${text}`)
  return JSON.parse(text) as T
}

/** Runs `main`, cleans up after it (and on Ctrl-C or SIGTERM), and sets the exit status. */
export async function runBench(log: (message: string) => void, main: () => Promise<void>): Promise<void> {
  let exiting = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (exiting) return
      exiting = true
      log(`stopping on ${signal}`)
      void cleanup(log).finally(() => process.exit(130))
    })
  }
  try {
    await main()
  } catch (error) {
    process.exitCode = error instanceof UsageError ? 2 : 1
    log(`error: ${error instanceof Error ? error.message : String(error)}`)
  } finally {
    await cleanup(log)
  }
}
