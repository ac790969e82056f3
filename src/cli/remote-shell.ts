/**
 * The technician's remote shell, as ssh gives it: on a terminal, raw mode, the remote PTY sized to
 * the window and resized with it, and ssh's escapes (`~.` leaves, `~?` lists them); without one, a
 * shell without PTY fed from stdin. On a terminal, Ctrl-] switches to watching the end user's
 * shared terminal (asked as `view`, like `--watch`) and its menu's `q` comes back: the shell waits
 * meanwhile, its output held, and the session goes on.
 */
import { EscapeFilter, ESCAPE_HELP } from '../core/ssh/escapes.js'
import type { RemoteExit } from '../core/ssh/technician-client.js'
import type { TechnicianSession } from '../core/technician/index.js'
import { UserError } from '../core/errors.js'
import { MENU_KEY } from '../core/share/status.js'
import { TerminalModes } from './terminal-modes.js'

const WATCH_HELP =
  "At any time: Ctrl-] - watch the end user's shared terminal (Ctrl-] then q in it comes back here)"

export async function runShell(
  technician: TechnicianSession,
  remoteStderr: NodeJS.WritableStream = process.stderr,
): Promise<RemoteExit> {
  const { session, shell } = technician
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
    const at = chunk.indexOf(MENU_KEY)
    if (at >= 0) {
      // What came before the key goes to the shell; the rest of the chunk was typed for the watch.
      if (at > 0) typed(chunk.subarray(0, at))
      return void watchThenReturn()
    }
    typed(chunk)
  }
  const typed = (chunk: Buffer) => {
    const { forward, actions } = escapes!.feed(chunk)
    if (forward.length > 0) channel.write(forward)
    for (const action of actions) {
      if (action === 'help') stderr.write(`${ESCAPE_HELP}\r\n${WATCH_HELP}\r\n`)
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
  const onModes = (chunk: Buffer) => modes?.feed(chunk)
  if (modes) channel.on('data', onModes)
  channel.pipe(stdout, { end: false })
  let watching = false
  let over = false
  const watchThenReturn = async () => {
    if (watching) return
    watching = true
    // The shell's output waits in SSH's window while the end user's terminal is shown.
    stdin.off('data', onInput)
    stdout.off('resize', onResize)
    channel.unpipe(stdout)
    channel.off('data', onModes)
    channel.pause()
    stderr.write('\r\nrescue: asking the end user to let you watch their terminal…\r\n')
    try {
      const { runWatch } = await import('./watch.js')
      await runWatch(technician, { fromShell: true })
      stderr.write('rescue: back in your shell\r\n')
    } catch (error) {
      const why = error instanceof UserError ? error.message : (error as Error).message
      stderr.write(`rescue: you cannot watch: ${why}; back in your shell\r\n`)
    } finally {
      watching = false
    }
    // The shell ended while the end user's terminal was shown: nothing to come back to.
    if (!over) {
      if (modes) channel.on('data', onModes)
      channel.pipe(stdout, { end: false })
      channel.resume()
      stdin.setRawMode(true)
      stdin.ref?.()
      stdin.on('data', onInput)
      stdin.resume()
      stdout.on('resize', onResize)
      onResize()
    } else {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.unref?.()
    }
  }
  channel.stderr.pipe(remoteStderr, { end: false })
  try {
    return await closed
  } finally {
    over = true
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
