/**
 * The technician's remote shell, as ssh gives it: on a terminal, raw mode, the remote PTY sized to
 * the window and resized with it, and ssh's escapes (`~.` leaves, `~?` lists them); without one, a
 * shell without PTY fed from stdin.
 */
import { EscapeFilter, ESCAPE_HELP } from '../core/ssh/escapes.js'
import type { RemoteExit } from '../core/ssh/technician-client.js'
import type { TechnicianSession } from '../core/technician/index.js'
import { TerminalModes } from './terminal-modes.js'

export async function runShell(
  { session, shell }: TechnicianSession,
  remoteStderr: NodeJS.WritableStream = process.stderr,
): Promise<RemoteExit> {
  const { stdin, stdout, stderr } = process
  const terminal = stdin.isTTY && stdout.isTTY
  const { channel, closed } = await shell(
    terminal
      ? { term: process.env.TERM || 'xterm-256color', cols: stdout.columns || 80, rows: stdout.rows || 24 }
      : undefined,
  )
  const escapes = terminal ? new EscapeFilter() : undefined
  const onResize = () => channel.setWindow(stdout.rows || 24, stdout.columns || 80, 0, 0)
  const onInput = (chunk: Buffer) => {
    if (!escapes) return void channel.write(chunk)
    const { forward, actions } = escapes.feed(chunk)
    if (forward.length > 0) channel.write(forward)
    for (const action of actions) {
      if (action === 'help') stderr.write(`${ESCAPE_HELP}\r\n`)
      // Said once, as the session's ending, by whoever shows the ending.
      if (action === 'disconnect') session.end({ reason: 'you left the session (~.)' })
    }
  }
  if (terminal) stdin.setRawMode(true)
  stdin.on('data', onInput)
  const onEnd = () => channel.end()
  stdin.on('end', onEnd)
  stdin.resume()
  stdout.on('resize', onResize)
  // What the remote side turned on, to undo should it be killed before it can (a revoke).
  const modes = terminal ? new TerminalModes() : undefined
  if (modes) channel.on('data', (chunk: Buffer) => modes.feed(chunk))
  channel.pipe(stdout, { end: false })
  channel.stderr.pipe(remoteStderr, { end: false })
  try {
    return await closed
  } finally {
    const restore = modes?.restore()
    if (restore) stdout.write(restore)
    stdout.off('resize', onResize)
    stdin.off('data', onInput)
    stdin.off('end', onEnd)
    if (terminal) stdin.setRawMode(false)
    stdin.pause()
    stdin.unref?.()
  }
}
