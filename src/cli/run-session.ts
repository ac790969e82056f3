/**
 * What `rescue host` and `rescue connect` share: show a session's events (a live view on a
 * terminal, lines or JSON lines otherwise), end it on Ctrl-C or SIGTERM, and exit with the status
 * its end deserves.
 */
import type { Role } from '../core/protocol/control-messages.js'
import { ExitCode, type ErrorCode } from '../core/errors.js'
import type { SessionEnded, SessionEvent, WordsEvent } from '../core/session/index.js'
import { initialSessionView, reduceSessionView } from '../core/session/view-state.js'
import { lineWriter } from './session-lines.js'
import { onSignal, signalEnding } from './signals.js'
import { toJsonLine } from '../core/text/json-line.js'

export interface Display<E> {
  show(event: E): void
  /** A line of news that is not an event (the end user's chat), where the view has room for it. */
  note?(line: string): void
  close(): Promise<void>
}

/** Something that runs until either side ends it. */
export interface Running {
  end(why?: { reason: string; code?: ErrorCode }): void
  done: Promise<SessionEnded>
}

// The live view keeps the last few chat lines; `rescue chat` has them all.
const NOTE_LINES = 5

// Ink and React load only when there is a terminal to draw on: pipes and scripts start faster.
async function liveView(role: Role): Promise<Display<SessionEvent | WordsEvent>> {
  const [{ SessionView }, { createElement, mountView }] = await Promise.all([
    import('../ui/SessionView.js'),
    import('../ui/render.js'),
  ])
  let state = initialSessionView(role)
  let notes: string[] = []
  const view = mountView(createElement(SessionView, { state, notes }))
  return {
    show(event) {
      state = reduceSessionView(state, event)
      view.update(createElement(SessionView, { state, notes }))
    },
    note(line) {
      notes = [...notes, line].slice(-NOTE_LINES)
      view.update(createElement(SessionView, { state, notes }))
    },
    close: () => view.close(),
  }
}

/** Events as lines on `stream`: JSON lines under `--json`, sentences otherwise. */
export function lineDisplay<E extends { event: string }>(
  json: boolean,
  describe: (event: E) => string[],
  stream: NodeJS.WriteStream = process.stdout,
): Display<E> {
  const write = (line: string) => stream.write(`${line}\n`)
  return {
    show: json ? (event) => write(toJsonLine(event)) : (event) => describe(event).forEach(write),
    close: async () => {},
  }
}

export async function sessionDisplay(role: Role, json: boolean): Promise<Display<SessionEvent | WordsEvent>> {
  if (!json && process.stdout.isTTY) return liveView(role)
  const write = lineWriter(json, (line) => process.stdout.write(`${line}\n`))
  return { show: write, close: async () => {} }
}

/** Runs until the session ends (Ctrl-C and SIGTERM end it) and sets the exit code from how it ended. */
export async function holdSession<E>(
  display: Display<E>,
  start: (onEvent: (event: E) => void) => Promise<Running>,
): Promise<SessionEnded> {
  // Ctrl-C and SIGTERM end it on purpose: told once, as the ending, with 130 or 143. Listened for
  // from the start: one that comes while connecting ends the session as soon as there is one.
  let running: Running | undefined
  let early: NodeJS.Signals | undefined
  const stopListening = onSignal((signal) => {
    if (running) running.end(signalEnding(signal))
    else early ??= signal
  })
  try {
    running = await start((event) => display.show(event))
    if (early) running.end(signalEnding(early))
    const ended = await running.done
    process.exitCode = ended.code ? ExitCode[ended.code] : ExitCode.ok
    return ended
  } finally {
    stopListening()
    await display.close()
  }
}
