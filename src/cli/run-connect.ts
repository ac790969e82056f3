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
import type { ChatMessage } from '../core/chat/index.js'
import { ExitCode, UserError } from '../core/errors.js'
import { runtimeDir } from '../core/paths.js'
import type { DirectMode, SessionEnded } from '../core/session/index.js'
import { toJsonLine } from '../core/text/json-line.js'
import { REVOKED_MESSAGE } from '../core/ssh/subsystems.js'
import { loadDeviceCredential } from '../core/trust/index.js'
import type { RemoteExit } from '../core/ssh/technician-client.js'
import { startTechnician, type TechnicianEvent, type TechnicianSession } from '../core/technician/index.js'
import { holdSession, lineDisplay, sessionDisplay, type Display } from './run-session.js'
import { runShell } from './remote-shell.js'
import { describeEvent } from './session-lines.js'
import { onSignal, signalEnding } from './signals.js'

export type ConnectMode =
  | { kind: 'hold' }
  | { kind: 'shell' }
  | { kind: 'exec'; command: string }
  /** Watch the end user's shared terminal (`rescue host --share`). */
  | { kind: 'watch' }
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
  direct?: DirectMode
  /** `--record DIR`: a local recording of each shell and command. */
  recordDir?: string
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
      ...(options.direct ? { direct: options.direct } : {}),
      ...(device ? { device } : {}),
      ...(options.recordDir !== undefined ? { recordDir: options.recordDir } : {}),
      onRecording: (recording) => {
        const where = [
          recording.uploaded ? "sealed to your organisation's recording key" : '',
          recording.file ?? '',
        ]
        const line = `recording this ${recording.kind} (${where.filter(Boolean).join(', ')})`
        process.stderr.write(
          options.json ? `${toJsonLine({ event: 'recording', ...recording })}\n` : `${line}\n`,
        )
      },
      onRecordingProblem: (reason) => {
        const line = `the recording stopped: ${reason}; the shell or command is closed`
        process.stderr.write(
          options.json ? `${toJsonLine({ event: 'recording-stopped', reason })}\n` : `${line}\n`,
        )
      },
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

  const display = remoteDisplay(options.json)
  let ended: SessionEnded | undefined
  let finished = false
  // A raw shell's screen is the remote program's: chat lines wait until it ends (the bell rings for each).
  const held: ChatMessage[] = []
  const showChat = chatShower(options.json, display, process.stderr)
  // Listened for from the start: a Ctrl-C while connecting ends the session once there is one.
  let technician: TechnicianSession | undefined
  let early: NodeJS.Signals | undefined
  // Set from the end user's computer saying it restarts until it is back: its shell goes, not the session.
  const restart = { pending: false }
  const stopListening = onSignal((signal) => {
    if (technician) technician.session.end(signalEnding(signal))
    else early ??= signal
  })
  try {
    technician = await start(
      (event) => {
        if (event.event === 'ended') ended = event
        if (event.event === 'link-lost' && event.restarting) restart.pending = true
        // Once the remote side has finished, how the session closes is no news to a person; a
        // script still gets its promised last event, `ended`.
        if (options.json || !(finished && event.event === 'ended')) display.show(event)
      },
      (message) => {
        if (mode.kind !== 'shell' || finished || !process.stdout.isTTY) return showChat(message)
        held.push(message)
        process.stderr.write('\u0007')
      },
    )
  } catch (error) {
    stopListening()
    throw error
  }
  if (early) technician.session.end(signalEnding(early))
  try {
    const remoteStderr = options.json ? stderrEvents() : process.stderr
    const exit = await runRemote(technician, mode, options.json, remoteStderr, restart)
    finished = true
    held.splice(0).forEach(showChat)
    process.exitCode = exitStatus(exit, () => ended)
  } catch (error) {
    finished = true
    // The session ended under the request (Ctrl-C, ~., the end user's q, the gateway gone): that
    // ending, already shown once, is the outcome, not the request's failure as a second message.
    if (!ended) throw error
    process.exitCode = endedStatus(ended)
  } finally {
    stopListening()
    // The last uploads go before the session ends, so the gateway has each recording whole.
    await technician.flushRecordings().catch((error: unknown) => {
      process.stderr.write(`the recording could not be finished: ${(error as Error).message}\n`)
    })
    technician.session.end()
    await technician.session.done
  }
}

/**
 * rescue's own lines on stderr while the remote side owns the terminal (raw mode: "\r\n"), or
 * one JSON event per line under `--json`.
 */
function remoteDisplay(json: boolean): Display<TechnicianEvent> {
  if (json) return lineDisplay<TechnicianEvent>(true, describeEvent, process.stderr)
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
  restart: { pending: boolean },
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
      stderr: remoteStderr,
      ...(stdin ? { stdin } : {}),
    })
    stdin?.destroy()
    return exit
  }
  if (mode.kind === 'watch') {
    note('asking the end user to let you watch their terminal…')
    const { runWatch } = await import('./watch.js')
    const exit = await runWatch(technician)
    // The view closing (stopped here, revoked, the shell gone) is no failure of a command.
    if (exit.signal === 'HUP' && exit.message === REVOKED_MESSAGE) {
      note('the end user revoked your access: the view was closed')
    }
    return { exitCode: 0 }
  }
  const person = !json && process.stdin.isTTY === true && process.stdout.isTTY === true
  if (!person) {
    note('asking the end user for a shell…')
    return runShell(technician, remoteStderr)
  }
  // At a terminal, a denied or revoked shell closes the shell, not the session: the technician
  // stays connected to ask again or to use send, get, sysinfo and chat from another terminal.
  for (;;) {
    note('asking the end user for a shell…')
    try {
      const exit = await runShell(technician, remoteStderr)
      if (restart.pending) {
        // The shell went with the end user's computer (it closes once the computer is back, when
        // `ssh` is already the new connection's): a new one is asked for.
        restart.pending = false
        await technician.ssh
        await technician.words
        note('the shell starts anew after the restart: the end user is asked again')
        continue
      }
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
