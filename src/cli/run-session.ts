/**
 * What `rescue host` and `rescue connect` share: start the session, show its events, end it on
 * Ctrl-C or SIGTERM, and exit with the status its end deserves.
 */
import { ExitCode } from '../core/errors.js'
import { startSession, type SessionOptions } from '../core/session/index.js'
import { lineWriter } from './session-lines.js'
import { onSignal } from './signals.js'

export async function runSession(
  options: Omit<SessionOptions, 'onEvent'> & { json: boolean },
): Promise<void> {
  const show = lineWriter(options.json, (line) => process.stdout.write(`${line}\n`))
  const session = await startSession({ ...options, onEvent: show })
  const stopListening = onSignal(() => session.end())
  const ended = await session.done
  stopListening()
  process.exitCode = ended.code ? ExitCode[ended.code] : ExitCode.ok
}
