/**
 * `rescue connect`'s three modes: hold the session (for scripts and, later, other commands), run
 * one command (`--exec`), or open a shell that behaves like ssh (raw terminal, window size, `~.`).
 * In the last two, stdout and stderr belong to the remote side: rescue's own messages go to stderr.
 */
import os from 'node:os'
import path from 'node:path'
import { startBridge, type Bridge } from '../core/bridge/index.js'
import { ExitCode, type ErrorCode } from '../core/errors.js'
import { runtimeDir } from '../core/paths.js'
import type { SessionEnded, SessionEvent } from '../core/session/index.js'
import { toJsonLine } from '../core/text/json-line.js'
import { loadDeviceCredential } from '../core/trust/index.js'
import type { RemoteExit } from '../core/ssh/technician-client.js'
import { startTechnician, type TechnicianSession } from '../core/technician/index.js'
import { holdSession, lineDisplay, sessionDisplay } from './run-session.js'
import { runShell } from './remote-shell.js'
import { describeEvent } from './session-lines.js'
import { onSignal } from './signals.js'

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
  // Hosts that trust the organisation's key (--trust) let in only a certified device.
  const device = loadDeviceCredential()
  const start = (onEvent: (event: SessionEvent) => void) =>
    startTechnician({
      server: options.server,
      token: options.token,
      entry: options.entry,
      onEvent,
      controlDir: runtimeDir(),
      ...(device ? { device } : {}),
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

  const display = lineDisplay<SessionEvent>(options.json, describeEvent, process.stderr)
  let ended: SessionEnded | undefined
  let finished = false
  const technician = await start((event) => {
    if (event.event === 'ended') ended = event
    // Once the remote side has finished, how the session closes is no news to the technician.
    if (!(finished && event.event === 'ended')) display.show(event)
  })
  const stopListening = onSignal(() => technician.session.end())
  try {
    const exit = await runRemote(technician, mode, options.json)
    finished = true
    process.exitCode = exitStatus(exit, () => ended)
  } catch (error) {
    finished = true
    throw error
  } finally {
    stopListening()
    technician.session.end()
    await technician.session.done
  }
}

async function runRemote(
  technician: TechnicianSession,
  mode: ConnectMode,
  json: boolean,
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
      stderr: process.stderr,
      ...(stdin ? { stdin } : {}),
    })
    stdin?.destroy()
    return exit
  }
  await technician.ssh
  note('asking the end user for a shell…')
  return runShell(technician)
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
  const code: ErrorCode = session?.code ?? 'sessionEnded'
  if (session) process.stderr.write(`session ended: ${session.reason}\n`)
  return ExitCode[code]
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
