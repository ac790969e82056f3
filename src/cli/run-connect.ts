/**
 * `rescue connect`'s three modes: hold the session (for scripts and, later, other commands), run
 * one command (`--exec`), or open a shell that behaves like ssh (raw terminal, window size, `~.`).
 * In the last two, stdout and stderr belong to the remote side: rescue's own messages go to stderr.
 */
import os from 'node:os'
import path from 'node:path'
import { startBridge, type Bridge } from '../core/bridge/index.js'
import { Writable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import { ExitCode } from '../core/errors.js'
import { runtimeDir } from '../core/paths.js'
import type { SessionEnded, SessionEvent } from '../core/session/index.js'
import { toJsonLine } from '../core/text/json-line.js'
import type { RemoteExit } from '../core/ssh/technician-client.js'
import { startTechnician, type TechnicianSession } from '../core/technician/index.js'
import { holdSession, lineDisplay, sessionDisplay, type Display } from './run-session.js'
import { runShell } from './remote-shell.js'
import { describeEvent } from './session-lines.js'
import { onSignal, signalEnding } from './signals.js'

export type ConnectMode =
  | { kind: 'hold' }
  | { kind: 'shell' }
  | { kind: 'exec'; command: string }
  /** Hold the session and serve it to OpenSSH tools on 127.0.0.1:port. */
  | { kind: 'listen'; port: number }

export interface ConnectOptions {
  server: string
  token: string
  entry: { pin: string } | { sessionId: string }
  json: boolean
  mode: ConnectMode
}

export async function runConnect(options: ConnectOptions): Promise<void> {
  const { mode } = options
  const start = (onEvent: (event: SessionEvent) => void) =>
    startTechnician({
      server: options.server,
      token: options.token,
      entry: options.entry,
      onEvent,
      controlDir: runtimeDir(),
    })
  if (mode.kind === 'hold') {
    await holdSession(await sessionDisplay('technician', options.json), async (onEvent) => {
      const { session } = await start(onEvent)
      return session
    })
    return
  }
  if (mode.kind === 'listen') {
    await holdSession(lineDisplay<SessionEvent>(options.json, describeEvent), async (onEvent) => {
      const technician = await start(onEvent)
      void serveOpenSsh(technician, mode.port, options.json)
      return technician.session
    })
    return
  }

  const display = remoteDisplay(options.json)
  let ended: SessionEnded | undefined
  let finished = false
  // Listened for from the start: a Ctrl-C while connecting ends the session once there is one.
  let technician: TechnicianSession | undefined
  let early: NodeJS.Signals | undefined
  const stopListening = onSignal((signal) => {
    if (technician) technician.session.end(signalEnding(signal))
    else early ??= signal
  })
  try {
    technician = await start((event) => {
      if (event.event === 'ended') ended = event
      // Once the remote side has finished, how the session closes is no news to a person; a script
      // still gets its promised last event, `ended`.
      if (options.json || !(finished && event.event === 'ended')) display.show(event)
    })
  } catch (error) {
    stopListening()
    throw error
  }
  if (early) technician.session.end(signalEnding(early))
  try {
    const remoteStderr = options.json ? stderrEvents() : process.stderr
    const exit = await runRemote(technician, mode, options.json, remoteStderr)
    finished = true
    process.exitCode = exitStatus(exit, () => ended)
  } catch (error) {
    finished = true
    // The session ended under the request (Ctrl-C, ~., the end user's q, the gateway gone): that
    // ending, already shown once, is the outcome, not the request's failure as a second message.
    if (!ended) throw error
    process.exitCode = endedStatus(ended)
  } finally {
    stopListening()
    technician.session.end()
    await technician.session.done
  }
}

/**
 * rescue's own lines on stderr while the remote side owns the terminal (raw mode: "\r\n"), or
 * one JSON event per line under `--json`.
 */
function remoteDisplay(json: boolean): Display<SessionEvent> {
  if (json) return lineDisplay<SessionEvent>(true, describeEvent, process.stderr)
  const end = process.stderr.isTTY ? '\r\n' : '\n'
  return {
    show(event) {
      // An ending can come in the middle of the remote prompt's line.
      const lead = event.event === 'ended' && process.stderr.isTTY ? '\r\n' : ''
      for (const line of describeEvent(event)) process.stderr.write(`${lead}${line}${end}`)
    },
    close: async () => {},
  }
}

/**
 * Under `--json`, stderr carries only JSON lines: the remote side's stderr goes out as
 * `{"event":"stderr","text":...}`, so nothing it prints can pass for one of rescue's events.
 */
function stderrEvents(): Writable {
  const decoder = new StringDecoder('utf8')
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const text = decoder.write(chunk)
      if (text) process.stderr.write(`${toJsonLine({ event: 'stderr', text })}\n`)
      callback()
    },
  })
}

async function runRemote(
  technician: TechnicianSession,
  mode: ConnectMode,
  json: boolean,
  remoteStderr: Writable,
): Promise<RemoteExit> {
  const note = (text: string) => {
    if (!json) process.stderr.write(`${text}\n`)
  }
  if (mode.kind === 'exec') {
    await technician.ssh
    note('waiting for the end user to allow the command…')
    const stdin = process.stdin.isTTY ? undefined : process.stdin
    const exit = await technician.exec(mode.command, {
      stdout: process.stdout,
      stderr: remoteStderr,
      ...(stdin ? { stdin } : {}),
    })
    stdin?.destroy()
    return exit
  }
  await technician.ssh
  note('asking the end user for a shell…')
  return runShell(technician, remoteStderr)
}

/** ssh's rule: the remote command's status; 128 + n for a signal; ours when it never finished. */
function exitStatus(exit: RemoteExit, ended: () => SessionEnded | undefined): number {
  if (exit.exitCode !== undefined) return exit.exitCode
  if (exit.signal) {
    const why = exit.message ? `: ${exit.message}` : ''
    process.stderr.write(`the remote side was ended by SIG${exit.signal}${why}\n`)
    const number = os.constants.signals[`SIG${exit.signal}` as NodeJS.Signals]
    return number ? 128 + number : ExitCode.failure
  }
  const session = ended()
  return session ? endedStatus(session) : ExitCode.sessionEnded
}

/**
 * A session that ended before the remote side did: its own code (130 for Ctrl-C, 11 for a lost
 * gateway...); 0 when the technician left on purpose (`~.`); 14 when the other side ended it.
 */
function endedStatus(session: SessionEnded): number {
  if (session.code) return ExitCode[session.code]
  return session.by === 'technician' ? ExitCode.ok : ExitCode.sessionEnded
}

/** Once SSH is up, serves the session to OpenSSH tools and prints how to use them. */
async function serveOpenSsh(technician: TechnicianSession, port: number, json: boolean): Promise<void> {
  const upstream = await technician.ssh.catch(() => undefined)
  if (!upstream) return
  const dir = path.join(runtimeDir(), `listen-${process.pid}`)
  let bridge: Bridge
  try {
    bridge = await startBridge({ upstream, port, dir, check: technician.check })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    technician.session.end({ reason: `could not serve OpenSSH tools: ${message}`, code: 'usage' })
    return
  }
  void technician.session.done.then(() => bridge.close())
  const { commands } = bridge
  if (json) {
    process.stdout.write(`${toJsonLine({ event: 'listening', port: bridge.port, ...commands })}\n`)
    return
  }
  process.stdout.write(
    [
      `serving this session to OpenSSH tools on 127.0.0.1:${bridge.port}; each request still needs the end user's consent:`,
      `  ${commands.ssh}`,
      `  ${commands.scp}`,
      `  ${commands.sftp}`,
      `  ${commands.rsync}`,
      '',
    ].join('\n'),
  )
}
