/**
 * What `rescue host` and `rescue connect` share: start the session, show its events (a live view
 * on a terminal, lines or JSON lines otherwise), end it on Ctrl-C or SIGTERM, and exit with the
 * status its end deserves.
 */
import { ExitCode } from '../core/errors.js'
import { startSession, type SessionEvent, type SessionOptions } from '../core/session/index.js'
import { initialSessionView, reduceSessionView } from '../core/session/view-state.js'
import { lineWriter } from './session-lines.js'
import { onSignal } from './signals.js'

interface Display {
  show(event: SessionEvent): void
  close(): Promise<void>
}

// Ink and React load only when there is a terminal to draw on: pipes and scripts start faster.
async function liveView(role: SessionOptions['role']): Promise<Display> {
  const [{ createElement }, { SessionView }, { mountView }] = await Promise.all([
    import('react'),
    import('../ui/SessionView.js'),
    import('../ui/render.js'),
  ])
  let state = initialSessionView(role)
  const view = mountView(createElement(SessionView, { state }))
  return {
    show(event) {
      state = reduceSessionView(state, event)
      view.update(createElement(SessionView, { state }))
    },
    close: () => view.close(),
  }
}

function lines(json: boolean): Display {
  return { show: lineWriter(json, (line) => process.stdout.write(`${line}\n`)), close: async () => {} }
}

export async function runSession(
  options: Omit<SessionOptions, 'onEvent'> & { json: boolean },
): Promise<void> {
  const display = !options.json && process.stdout.isTTY ? await liveView(options.role) : lines(options.json)
  try {
    const session = await startSession({ ...options, onEvent: (event) => display.show(event) })
    const stopListening = onSignal(() => session.end())
    const ended = await session.done
    stopListening()
    process.exitCode = ended.code ? ExitCode[ended.code] : ExitCode.ok
  } finally {
    await display.close()
  }
}
