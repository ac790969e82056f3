/**
 * The e2e tier's harness (STYLE.md rule 10): runs the built CLI (`bin/run.js`) as real processes.
 * Each test file makes one `CliWorld`: temp XDG directories, the file credential store (so no test
 * touches an OS keychain), no colour, and no RESCUE_* variable inherited from the developer's
 * shell. Every wait has a timeout; `dispose()` kills whatever still runs and removes the temp dir.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { stripVTControlCharacters } from 'node:util'
import type { IPty } from '@lydell/node-pty'
import { execa, type ResultPromise } from 'execa'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = path.join(REPO_ROOT, 'bin', 'run.js')

/** Long enough for a loaded machine, short enough that a hang fails the test rather than the suite. */
export const WAIT_MS = 15_000
const KILL_GRACE_MS = 3000

export type JsonLine = Record<string, unknown>

export interface RunResult {
  /** The command line as spawned, for asserting what never goes in argv. */
  command: string
  exitCode: number | undefined
  signal: string | undefined
  timedOut: boolean
  stdout: string
  stderr: string
}

export interface Exit {
  exitCode: number | undefined
  signal: string | undefined
}

export interface Admin {
  email: string
  password: string
  name: string
  organisation: string
}

export interface PinResult {
  pin: string
  expiresAt: string
  server: string
}

export interface PtyOptions {
  cols?: number
  rows?: number
  /** Replaces (or, with undefined, removes) variables of the world's environment. */
  env?: Record<string, string | undefined>
}

export interface RunOptions {
  /** Written to stdin, then stdin is closed. */
  input?: string
  /** Replaces (or, with undefined, removes) variables of the world's environment. */
  env?: Record<string, string | undefined>
  timeoutMs?: number
}

/** Resolves once `condition` holds, checking every 50 ms; fails after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Parses the JSON value on each line that holds one; other lines (human text) are skipped. */
export function jsonLines(text: string): JsonLine[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as JsonLine)
}

/** The one JSON value a `--json` command printed; fails when there is not exactly one. */
export function onlyJson(result: RunResult): JsonLine {
  const values = jsonLines(result.stdout)
  if (values.length !== 1) throw new Error(`expected one JSON line on stdout\n${transcript(result)}`)
  return values[0]!
}

/** The usage error a `--json` command printed: one JSON line on stderr, and nothing on stdout. */
export function usageJson(result: RunResult): JsonLine {
  const values = jsonLines(result.stderr)
  if (result.stdout !== '' || values.length !== 1) {
    throw new Error(`expected one JSON line on stderr and nothing on stdout\n${transcript(result)}`)
  }
  return values[0]!
}

function transcript(output: { stdout: string; stderr: string }): string {
  return `--- stdout ---\n${output.stdout}\n--- stderr ---\n${output.stderr}`
}

function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.exitCode}`
}

/** A long-running command (server, host, connect) whose output is collected line by line. */
export class CliProcess {
  readonly lines: string[] = []
  stderr = ''
  exit?: Exit
  private partial = ''
  private readonly watchers = new Set<() => void>()
  private readonly settled: Promise<void>

  constructor(
    readonly name: string,
    private readonly child: ResultPromise,
  ) {
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n')
      this.partial = parts.pop() ?? ''
      this.lines.push(...parts)
      this.notify()
    })
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (chunk: string) => (this.stderr += chunk))
    this.settled = child.then(
      (result) => this.onExit({ exitCode: result.exitCode, signal: result.signal }),
      // With reject: false, execa only rejects when it could not spawn at all.
      () => this.onExit({ exitCode: undefined, signal: undefined }),
    )
  }

  get stdout(): string {
    return [...this.lines, this.partial].join('\n')
  }

  /** Every JSON line printed so far. */
  get events(): JsonLine[] {
    return jsonLines(this.stdout)
  }

  /** Resolves with the first JSON line where `event` is `name` and `match` holds. */
  waitForEvent(name: string, timeoutMs = WAIT_MS, match: (line: JsonLine) => boolean = () => true) {
    return this.until(`a "${name}" event`, timeoutMs, () =>
      this.events.find((line) => line.event === name && match(line)),
    )
  }

  /** Resolves with the first stdout line for which `predicate` holds. */
  waitForLine(what: string, predicate: (line: string) => boolean, timeoutMs = WAIT_MS): Promise<string> {
    return this.until(what, timeoutMs, () => this.lines.find(predicate))
  }

  waitForExit(timeoutMs = WAIT_MS): Promise<Exit> {
    return this.until('its exit', timeoutMs, () => this.exit)
  }

  /** The process id, to look at the process from outside (its argv in /proc). */
  get pid(): number | undefined {
    return this.child.pid
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal)
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
  async stop(): Promise<void> {
    if (this.exit) return
    this.kill('SIGTERM')
    const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), KILL_GRACE_MS).unref())
    if ((await Promise.race([this.settled, timer])) === 'late') {
      this.kill('SIGKILL')
      await this.settled
    }
  }

  private onExit(exit: Exit): void {
    if (this.partial) this.lines.push(this.partial)
    this.partial = ''
    this.exit = exit
    this.notify()
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher()
  }

  /** Resolves with `check()`'s first defined value; rejects on timeout, or when the process exits first. */
  private until<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const settle = (finish: () => void) => {
        clearTimeout(timer)
        this.watchers.delete(attempt)
        finish()
      }
      const fail = (why: string) =>
        settle(() => reject(new Error(`${this.name}: ${why} waiting for ${what}\n${transcript(this)}`)))
      const attempt = () => {
        let value: T | undefined
        try {
          value = check()
        } catch (error) {
          return fail(`could not read its output (${String(error)})`)
        }
        if (value !== undefined) settle(() => resolve(value))
        else if (this.exit) fail(`exited (${describeExit(this.exit)})`)
      }
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs)
      this.watchers.add(attempt)
      attempt()
    })
  }
}

/**
 * A command on a real terminal (node-pty), for what only happens on one: Ink views, raw mode, the
 * window size. Waits read the output with ANSI sequences and carriage returns stripped.
 */
export class PtyProcess {
  exit?: Exit
  private raw = ''
  private readonly watchers = new Set<() => void>()
  private readonly settled: Promise<void>

  constructor(
    readonly name: string,
    private readonly pty: IPty,
  ) {
    pty.onData((data) => {
      this.raw += data
      this.notify()
    })
    this.settled = new Promise((resolve) => {
      pty.onExit(({ exitCode, signal }) => {
        this.exit = {
          exitCode: signal ? undefined : exitCode,
          signal: signal ? (signalName(signal) ?? String(signal)) : undefined,
        }
        this.notify()
        resolve()
      })
    })
  }

  /** Everything shown so far, as text: no escape sequences, no carriage returns. */
  get output(): string {
    return stripVTControlCharacters(this.raw).replaceAll('\r', '')
  }

  /** Everything shown so far as the terminal received it, escape sequences and all: for a screen emulator. */
  get rawOutput(): string {
    return this.raw
  }

  /** Where the output ends now: pass it as `from` to wait only for what comes after. */
  mark(): number {
    return this.output.length
  }

  /**
   * Resolves with the first match of `pattern` in the output after `from` (its text: the first
   * capture group when the pattern has one) and where it ends; rejects on timeout or exit.
   */
  waitFor(pattern: string | RegExp, options: { from?: number; timeoutMs?: number } = {}) {
    const { from = 0, timeoutMs = WAIT_MS } = options
    const find = (): { text: string; end: number } | undefined => {
      const rest = this.output.slice(from)
      if (typeof pattern === 'string') {
        const index = rest.indexOf(pattern)
        return index < 0 ? undefined : { text: pattern, end: from + index + pattern.length }
      }
      const match = pattern.exec(rest)
      return match ? { text: match[1] ?? match[0], end: from + match.index + match[0].length } : undefined
    }
    return this.until(`${String(pattern)}`, timeoutMs, find, true)
  }

  waitForExit(timeoutMs = WAIT_MS): Promise<Exit> {
    return this.until('its exit', timeoutMs, () => this.exit, false)
  }

  /** The process id, to look at the process from outside (its command line in ps). */
  get pid(): number {
    return this.pty.pid
  }

  /** Types on the terminal's keyboard. */
  write(keys: string): void {
    this.pty.write(keys)
  }

  resize(cols: number, rows: number): void {
    this.pty.resize(cols, rows)
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.exit) this.pty.kill(signal)
  }

  /** SIGHUP (the terminal went away), then SIGKILL after a grace period; resolves once it is gone. */
  async stop(): Promise<void> {
    if (this.exit) return
    this.kill('SIGHUP')
    const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), KILL_GRACE_MS).unref())
    if ((await Promise.race([this.settled, timer])) === 'late') {
      this.kill('SIGKILL')
      await this.settled
    }
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher()
  }

  private until<T>(what: string, timeoutMs: number, check: () => T | undefined, failOnExit: boolean) {
    return new Promise<T>((resolve, reject) => {
      const settle = (finish: () => void) => {
        clearTimeout(timer)
        this.watchers.delete(attempt)
        finish()
      }
      const fail = (why: string) =>
        settle(() =>
          reject(new Error(`${this.name}: ${why} waiting for ${what}\n--- terminal ---\n${this.output}`)),
        )
      const attempt = () => {
        const value = check()
        if (value !== undefined) settle(() => resolve(value))
        else if (failOnExit && this.exit) fail(`exited (${describeExit(this.exit)})`)
      }
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs)
      this.watchers.add(attempt)
      attempt()
    })
  }
}

/** The question an attended `rescue host` asks once paired, before anything else can be asked. */
export const WORDS_QUESTION = 'Do these match the words your technician reads you?'
/** Longer than the host view's type-ahead guard (PROMPT_GUARD_MS, 400 ms): keys sooner are ignored. */
export const AFTER_GUARD_MS = 500

/**
 * The end user at an attended `rescue host` confirms the security words, as every session on a
 * terminal now starts: waits (after `from`) for the question under the words, presses `y` once it
 * has been on screen past the type-ahead guard, and waits for the confirmation. Returns where the
 * output ended then, and the words shown.
 */
export async function confirmWords(host: PtyProcess, from = 0): Promise<{ end: number; sas: string }> {
  const words = await answerWords(host, from)
  const confirmed = await host.waitFor('You confirmed these words with your technician.', { from: words.end })
  return { end: confirmed.end, sas: words.text }
}

/**
 * Presses `y` under the security words without waiting for the confirmation line: for a session
 * that may end (and Ink skip that frame) before the line is drawn. Returns where the words ended.
 */
export async function answerWords(host: PtyProcess, from = 0): Promise<{ end: number; text: string }> {
  const words = await host.waitFor(/security words: (\S+ \S+ \S+)/, { from })
  await host.waitFor(WORDS_QUESTION, { from: words.end })
  await new Promise((resolve) => setTimeout(resolve, AFTER_GUARD_MS))
  host.write('y')
  return words
}

function signalName(signal: number): string | undefined {
  return Object.entries(os.constants.signals).find(([, value]) => value === signal)?.[0]
}

/** Ctrl-] on `rescue host --share`'s terminal: takes control back and opens the status bar's menu. */
export const SHARE_MENU = '\u001d'

/** The end user presses Ctrl-] then `key` on their shared terminal's status bar (the menu's answer). */
export async function shareMenu(pty: PtyProcess, key: string): Promise<void> {
  pty.write(SHARE_MENU)
  await new Promise((resolve) => setTimeout(resolve, 100))
  pty.write(key)
}

/** Host flags as given, with `--trust-gateway` added when they auto-approve and name no key to trust. */
export function unattended(flags: string[]): string[] {
  const trusts = flags.some((flag) => flag.startsWith('--trust'))
  return flags.includes('--auto-approve') && !trusts ? [...flags, '--trust-gateway'] : flags
}

function inheritedButNotWanted(key: string): boolean {
  return (
    // RESCUE_TOKEN, RESCUE_SERVER, RESCUE_PIN and every other flag's env twin.
    key.startsWith('RESCUE_') ||
    // Vitest sets NODE_ENV=test; oclif then loads src/*.ts through tsx instead of the built dist/.
    key === 'NODE_ENV' ||
    key === 'TEST' ||
    key.startsWith('VITEST') ||
    key === 'FORCE_COLOR'
  )
}

/** One test file's isolated environment, and the CLI steps the tests are made of. */
export class CliWorld {
  readonly root: string
  /** Where the technician's login lives: $XDG_CONFIG_HOME/rescue. */
  readonly configDir: string
  readonly env: Record<string, string>
  private readonly children = new Set<CliProcess | PtyProcess>()
  private readonly tracked: (CliProcess | PtyProcess)[] = []

  constructor() {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-e2e-'))
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && !inheritedButNotWanted(key)) env[key] = value
    }
    const xdg = (name: string) => {
      const dir = path.join(this.root, name)
      fs.mkdirSync(dir)
      return dir
    }
    this.env = {
      ...env,
      XDG_CONFIG_HOME: xdg('config'),
      XDG_DATA_HOME: xdg('data'),
      XDG_STATE_HOME: xdg('state'),
      XDG_CACHE_HOME: xdg('cache'),
      RESCUE_CREDENTIAL_STORE: 'file',
      NO_COLOR: '1',
    }
    this.configDir = path.join(this.env.XDG_CONFIG_HOME!, 'rescue')
  }

  /** A fresh directory under the world's root. */
  dir(name: string): string {
    return fs.mkdtempSync(path.join(this.root, `${name}-`))
  }

  /** Runs a command to its end; never throws for a non-zero exit (tests assert on it). */
  async run(args: string[], options: RunOptions = {}): Promise<RunResult> {
    const result = await execa(process.execPath, [BIN, ...args], {
      cwd: this.root,
      env: this.envWith(options.env),
      extendEnv: false,
      reject: false,
      timeout: options.timeoutMs ?? WAIT_MS,
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    })
    return {
      command: result.command,
      exitCode: result.exitCode,
      signal: result.signal,
      timedOut: result.timedOut,
      stdout: result.stdout,
      stderr: result.stderr,
    }
  }

  /** Starts a long-running command (`input` written to its stdin, then closed); `dispose()` stops it if the test does not. */
  spawn(name: string, args: string[], options: Pick<RunOptions, 'env' | 'input'> = {}): CliProcess {
    const child = execa(process.execPath, [BIN, ...args], {
      cwd: this.root,
      env: this.envWith(options.env),
      extendEnv: false,
      reject: false,
      buffer: false,
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
      forceKillAfterDelay: false,
    })
    const cli = new CliProcess(name, child)
    this.children.add(cli)
    return cli
  }

  /**
   * Starts a command on a new terminal (node-pty, loaded only here: its native addon is not for
   * every suite). `CI` is removed, since Ink draws only its last frame when it is set, and TERM is
   * xterm-256color unless `env` says otherwise; `dispose()` stops it if the test does not.
   */
  async spawnPty(name: string, args: string[], options: PtyOptions = {}): Promise<PtyProcess> {
    const nodePty = await import('@lydell/node-pty')
    const pty = nodePty.spawn(process.execPath, [BIN, ...args], {
      name: 'xterm-256color',
      cols: options.cols ?? 100,
      rows: options.rows ?? 30,
      cwd: this.root,
      env: this.envWith({ TERM: 'xterm-256color', CI: undefined, ...options.env }),
    })
    const cli = new PtyProcess(name, pty)
    this.children.add(cli)
    return cli
  }

  /** `rescue server` on 127.0.0.1 and a free port, resolved once it prints its URL. */
  async startServer(options: { dataDir?: string; heartbeatMs?: number; port?: number } = {}) {
    const dataDir = options.dataDir ?? this.dir('gateway')
    const server = this.spawn('server', [
      'server',
      '--data',
      dataDir,
      '--host',
      '127.0.0.1',
      '--port',
      String(options.port ?? 0),
      '--json',
      ...(options.heartbeatMs ? ['--heartbeat-ms', String(options.heartbeatMs)] : []),
    ])
    const line = await server.waitForLine('the {"url"} line', (text) => text.trim().startsWith('{'))
    const { url } = JSON.parse(line) as { url: string }
    if (!url.startsWith('http://127.0.0.1:')) throw new Error(`the gateway listens on ${url}`)
    return { url, dataDir, server }
  }

  /** `rescue admin init`, the password on stdin; throws with the output when it fails. */
  async initAdmin(dataDir: string, admin: Admin): Promise<void> {
    this.check(
      await this.run(
        [
          'admin',
          'init',
          '--data',
          dataDir,
          '--email',
          admin.email,
          '--name',
          admin.name,
          '--organisation',
          admin.organisation,
          '--password-stdin',
        ],
        { input: admin.password },
      ),
    )
  }

  /** `rescue login --json`, the password on stdin; returns the result and the command line. */
  async login(url: string, admin: Pick<Admin, 'email' | 'password'>) {
    const result = this.check(
      await this.run(['login', '--server', url, '--email', admin.email, '--password-stdin', '--json'], {
        input: admin.password,
      }),
    )
    return { command: result.command, json: onlyJson(result) }
  }

  /** `rescue pin --json` against the gateway logged in to. */
  async newPin(): Promise<PinResult> {
    const json = onlyJson(this.check(await this.run(['pin', '--json'])))
    return json as unknown as PinResult
  }

  /** `rescue host`, the end user's side. */
  host(url: string, pin: string, options: { json?: boolean; env?: Record<string, string> } = {}): CliProcess {
    return this.spawn('host', ['host', '--server', url, '--pin', pin, ...this.jsonFlag(options)], {
      ...(options.env ? { env: options.env } : {}),
    })
  }

  /** `rescue connect`, the technician's side, using the saved login. */
  connect(pin: string, options: { json?: boolean; env?: Record<string, string> } = {}): CliProcess {
    return this.spawn('connect', ['connect', '--pin', pin, ...this.jsonFlag(options)], {
      ...(options.env ? { env: options.env } : {}),
    })
  }

  /**
   * A host (`flags` added; its own HOME and audit log, SHELL=/bin/sh) and a technician holding the
   * session with its control socket open in `runtime` (an XDG_RUNTIME_DIR), both tracked. These
   * sessions test files and control, not who the technician is: a host that auto-approves relies on
   * the gateway for that (`--trust-gateway`) unless `flags` give it a key.
   */
  async liveSession(url: string, runtime: string, ...given: string[]) {
    const flags = unattended(given)
    const { pin } = await this.newPin()
    const home = this.dir(`home-${pin}`)
    const auditLog = path.join(this.dir(`state-${pin}`), 'audit.jsonl')
    const host = this.track(
      this.spawn('host', ['host', '--server', url, '--pin', pin, '--json', ...flags], {
        env: { HOME: home, SHELL: '/bin/sh', RESCUE_AUDIT_LOG: auditLog },
      }),
    )
    await host.waitForEvent('waiting')
    const technician = this.track(
      this.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json'], {
        env: { XDG_RUNTIME_DIR: runtime },
      }),
    )
    const paired = await technician.waitForEvent('paired')
    const socket = path.join(runtime, 'rescue', `${paired.sessionId as string}.sock`)
    await waitUntil(() => fs.existsSync(socket))
    return { host, technician, home, auditLog, socket }
  }

  /**
   * An end user sharing their own terminal (`rescue host --share`: their own HOME and state
   * folder, SHELL=/bin/sh, PS1 `$ `) and a technician connecting with the PIN and `connect` flags
   * (`--watch`, or none for a shell), both on real terminals with CI unset, both tracked. Returns
   * once the end user confirmed the security words (Ctrl-] then y), with where they ended.
   */
  async sharedSession(url: string, connect: string[] = [], hostCols = 150) {
    const { pin } = await this.newPin()
    const stateDir = this.dir(`state-${pin}`)
    const env = {
      XDG_STATE_HOME: stateDir,
      HOME: this.dir(`home-${pin}`),
      SHELL: '/bin/sh',
      PS1: '$ ',
      CI: undefined,
    }
    const host = this.track(
      await this.spawnPty('host', ['host', '--server', url, '--pin', pin, '--share'], {
        cols: hostCols,
        rows: 30,
        env,
      }),
    )
    await host.waitFor('waiting for your technician')
    const technician = this.track(
      await this.spawnPty('connect', ['connect', '--pin', pin, ...connect], {
        cols: 120,
        rows: 40,
        env: { CI: undefined },
      }),
    )
    const words = await host.waitFor(/security words: (\S+ \S+ \S+)/)
    await shareMenu(host, 'y')
    return { host, technician, stateDir, words }
  }

  /**
   * The organisation's signing key (`admin ca init`, once per world, in the world's root) and the
   * logged-in technician's device certified by it (`device`, `admin ca sign`, `device install-cert
   * -`); returns `--trust KEY`, the flags of a host that lets in only this organisation's
   * technicians, checked by signature.
   */
  async trustOrganisation(email: string, organisation = 'Acme IT'): Promise<string[]> {
    const caFile = path.join(this.root, 'organisation-ca.key')
    if (!fs.existsSync(caFile)) {
      this.organisationKey = this.check(
        await this.run(['admin', 'ca', 'init', '--out', caFile, '--organisation', organisation]),
      ).stdout.trim()
    }
    const device = onlyJson(this.check(await this.run(['device', '--json'])))
    const signed = this.check(
      await this.run([
        'admin',
        'ca',
        'sign',
        '--ca',
        caFile,
        '--email',
        email,
        '--key',
        device.publicKey as string,
      ]),
    )
    this.check(await this.run(['device', 'install-cert', '-'], { input: signed.stdout }))
    return ['--trust', this.organisationKey!]
  }

  /** The public key `trustOrganisation` made (`rescue-ca-ed25519 ...`). */
  organisationKey?: string

  /** A gateway with `admin` initialised (on its live data directory, as an operator would) and logged in; its URL. */
  async startLoggedIn(admin: Admin): Promise<string> {
    const gateway = await this.startServer()
    await this.initAdmin(gateway.dataDir, admin)
    await this.login(gateway.url, admin)
    return gateway.url
  }

  /** Marks a process of the running test, for `stopTracked` after it whatever happened. */
  track<T extends CliProcess | PtyProcess>(child: T): T {
    this.tracked.push(child)
    return child
  }

  /** Stops the running test's processes (an afterEach hook). */
  async stopTracked(): Promise<void> {
    await Promise.all(this.tracked.splice(0).map((child) => child.stop()))
  }

  /** Stops every process this world started, then removes its temp directory. */
  async dispose(): Promise<void> {
    await Promise.all([...this.children].map((child) => child.stop()))
    this.children.clear()
    fs.rmSync(this.root, { recursive: true, force: true })
  }

  private jsonFlag(options: { json?: boolean }): string[] {
    return options.json === false ? [] : ['--json']
  }

  private envWith(overrides: RunOptions['env'] = {}): Record<string, string> {
    const env = { ...this.env }
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) delete env[key]
      else env[key] = value
    }
    return env
  }

  check(result: RunResult): RunResult {
    if (result.exitCode !== 0) {
      throw new Error(`${result.command} failed (${describeExit(result)})\n${transcript(result)}`)
    }
    return result
  }
}
