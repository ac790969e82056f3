/**
 * The technician's remote shell, as ssh gives it: on a terminal, raw mode, the remote PTY sized to
 * the window and resized with it, and ssh's escapes (`~.` leaves, `~?` lists them); without one, a
 * shell without PTY fed from stdin.
 */
import type ssh2 from 'ssh2'
import type { Session } from '../core/session/index.js'
import { EscapeFilter, ESCAPE_HELP } from '../core/ssh/escapes.js'
import { openRemoteShell, settleOnClose, type RemoteExit } from '../core/ssh/technician-client.js'

export async function runShell(
  session: Session,
  client: ssh2.Client,
  onOpen = () => {},
): Promise<RemoteExit> {
  const { stdin, stdout, stderr } = process
  const terminal = stdin.isTTY && stdout.isTTY
  const channel = await openRemoteShell(
    client,
    terminal
      ? { term: process.env.TERM || 'xterm-256color', cols: stdout.columns || 80, rows: stdout.rows || 24 }
      : undefined,
  )
  onOpen()
  const escapes = terminal ? new EscapeFilter() : undefined
  const onResize = () => channel.setWindow(stdout.rows || 24, stdout.columns || 80, 0, 0)
  const onInput = (chunk: Buffer) => {
    if (!escapes) return void channel.write(chunk)
    const { forward, actions } = escapes.feed(chunk)
    if (forward.length > 0) channel.write(forward)
    for (const action of actions) {
      if (action === 'help') stderr.write(`${ESCAPE_HELP}\r\n`)
      if (action === 'disconnect') {
        stderr.write('\r\nyou left the session\r\n')
        session.end()
      }
    }
  }
  if (terminal) stdin.setRawMode(true)
  stdin.on('data', onInput)
  stdin.on('end', () => channel.end())
  stdin.resume()
  stdout.on('resize', onResize)
  channel.pipe(stdout, { end: false })
  channel.stderr.pipe(stderr, { end: false })
  try {
    return await settleOnClose(channel)
  } finally {
    stdout.off('resize', onResize)
    stdin.off('data', onInput)
    if (terminal) stdin.setRawMode(false)
    stdin.pause()
    stdin.unref?.()
  }
}
