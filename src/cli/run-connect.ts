/**
 * `rescue connect`'s three modes: hold the session (for scripts and, later, other commands), run
 * one command (`--exec`), or open a shell that behaves like ssh (raw terminal, window size, `~.`).
 * In the last two, stdout and stderr belong to the remote side: rescue's own messages go to stderr.
 */
import os from 'node:os'
import path from 'node:path'
import { startBridge, type Bridge } from '../core/bridge/index.js'
import type { ChatMessage } from '../core/chat/index.js'
import { ExitCode, UserError, type ErrorCode } from '../core/errors.js'
import { runtimeDir } from '../core/paths.js'
import type { SessionEnded } from '../core/session/index.js'
import { toJsonLine } from '../core/text/json-line.js'
import { REVOKED_MESSAGE } from '../core/ssh/subsystems.js'
import { loadDeviceCredential } from '../core/trust/index.js'
import type { RemoteExit } from '../core/ssh/technician-client.js'
import { startTechnician, type TechnicianEvent, type TechnicianSession } from '../core/technician/index.js'
import { holdSession, lineDisplay, sessionDisplay, type Display } from './run-session.js'
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
  /** How long a dropped link may take to come back before the session ends. */
  resumeGraceMs: number
}

export async function runConnect(options: ConnectOptions): Promise<void> {
  const { mode } = options
  // Hosts that trust the organisation's key (--trust) let in only a certified device.
  const device = loadDeviceCredential()
  const start = (onEvent: (event: TechnicianEvent) => void, onChat: (message: ChatMessage) => void) =>
    startTechnician({
      server: options.server,
      token: options.token,
      entry: options.entry,
      onEvent,
      onChat,
      controlDir: runtimeDir(),
      resumeGraceMs: options.resumeGraceMs,
      ...(device ? { device } : {}),
    })
  if (mode.kind === 'hold') {
    const display = await sessionDisplay('technician', options.json)
    await holdSession(display, async (onEvent) => {
      const { session } = await start(onEvent, chatShower(options.json, display))
      return session
    })
    return
  }
  if (mode.kind === 'listen') {
    const display = lineDisplay<TechnicianEvent>(options.json, describeEvent)
    await holdSession(display, async (onEvent) => {
      const technician = await start(onEvent, chatShower(options.json, display))
      void serveOpenSsh(technician, mode.port, options.json)
      return technician.session
    })
    return
  }

  const display = lineDisplay<TechnicianEvent>(options.json, describeEvent, process.stderr)
  let ended: SessionEnded | undefined
  let finished = false
  // A raw shell's screen is the remote program's: chat lines wait until it ends (the bell rings for each).
  const held: ChatMessage[] = []
  const showChat = chatShower(options.json, display, process.stderr)
  const technician = await start(
    (event) => {
      if (event.event === 'ended') ended = event
      // Once the remote side has finished, how the session closes is no news to the technician.
      if (!(finished && event.event === 'ended')) display.show(event)
    },
    (message) => {
      if (mode.kind !== 'shell' || finished || !process.stdout.isTTY) return showChat(message)
      held.push(message)
      process.stderr.write('\u0007')
    },
  )
  const stopListening = onSignal(() => technician.session.end())
  try {
    const exit = await runRemote(technician, mode, options.json)
    finished = true
    held.splice(0).forEach(showChat)
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
  // Nothing is asked of the end user before they confirmed the words (the events say so meanwhile).
  await technician.ssh
  await technician.words
  if (mode.kind === 'exec') {
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
  const person = !json && process.stdin.isTTY === true && process.stdout.isTTY === true
  if (!person) {
    note('asking the end user for a shell…')
    return runShell(technician)
  }
  // At a terminal, a denied or revoked shell closes the shell, not the session: the technician
  // stays connected to ask again or to use send, get, sysinfo and chat from another terminal.
  for (;;) {
    note('asking the end user for a shell…')
    try {
      const exit = await runShell(technician)
      if (exit.signal !== 'HUP' || exit.message !== REVOKED_MESSAGE) return exit
      note('the end user revoked your access: the shell was closed')
    } catch (error) {
      if (!(error instanceof UserError) || !['denied', 'forbidden'].includes(error.code)) throw error
      note(error.message)
    }
    const choice = await askAgainOrLeave(technician)
    // Leaving on purpose is a clean ending; a session that ended under us says how it ended.
    if (choice === 'leave') return { exitCode: 0 }
    if (choice === 'ended') return {}
  }
}

/**
 * Between shells: Enter asks again, `q` (or `~.`) and Enter leaves; the session ending (the end
 * user pressed q, Ctrl-C here) stops the wait too.
 */
function askAgainOrLeave(technician: TechnicianSession): Promise<'again' | 'leave' | 'ended'> {
  const { stdin, stderr } = process
  stderr.write(
    'you are still connected: press Enter to ask for a shell again, or q and Enter to leave (rescue send, get, sysinfo and chat work meanwhile)\n',
  )
  return new Promise((resolve) => {
    let chosen = false
    const finish = (choice: 'again' | 'leave' | 'ended') => {
      // The session's end may come long after a choice, while the next shell reads stdin.
      if (chosen) return
      chosen = true
      stdin.off('data', onData)
      stdin.pause()
      stdin.unref?.()
      resolve(choice)
    }
    const onData = (chunk: Buffer) => {
      const line = chunk.toString('utf8').trim()
      finish(line === 'q' || line === '~.' ? 'leave' : 'again')
    }
    stdin.on('data', onData)
    stdin.ref?.()
    stdin.resume()
    void technician.session.done.then(() => finish('ended'))
  })
}

/**
 * Shows the end user's chat lines where `connect` shows its events: a `chat` JSON event under
 * `--json`, else a line (or a line in the live view). The technician's own lines, and what came
 * before, are for `rescue chat`, which opens with the session's chat so far.
 */
function chatShower(
  json: boolean,
  display: Display<TechnicianEvent>,
  stream: NodeJS.WriteStream = process.stdout,
): (message: ChatMessage) => void {
  return (message) => {
    if (message.from !== 'host' || message.history) return
    if (json) return void stream.write(`${toJsonLine({ event: 'chat', ...message })}\n`)
    const line = `chat from the end user: ${message.text} (answer with rescue chat)`
    if (display.note) display.note(line)
    else stream.write(`${line}\n`)
  }
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
    bridge = await startBridge({ upstream, port, dir, check: technician.check, explain: technician.explain })
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
