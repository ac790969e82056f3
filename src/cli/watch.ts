/**
 * `rescue connect --watch`: the end user's shared terminal on the technician's, read only, with
 * a status bar on the last row. Ctrl-] opens the menu: `c` asks to type (control), `q` stops
 * watching. Keys are sent to the host, which drops them unless the end user allowed control: the
 * host decides, not this client. Without a terminal, the output goes to stdout and no key is sent.
 */
import type { ClientChannel } from 'ssh2'
import { UserError } from '../core/errors.js'
import { encodeKeys, encodeSize } from '../core/share/index.js'
import { MENU_KEY } from '../core/share/status.js'
import type { RemoteExit } from '../core/ssh/technician-client.js'
import { CONTROL_TAKEN_BACK } from '../core/ssh/subsystems.js'
import type { TechnicianSession } from '../core/technician/index.js'
import { StatusBar } from './status-bar.js'

export interface WatchOptions {
  /**
   * Watching from `rescue connect`'s shell (its Ctrl-]): on the terminal's other screen, so that
   * the shell's comes back as it was, and the terminal stays raw for the shell.
   */
  fromShell?: boolean
}

export async function runWatch(
  technician: TechnicianSession,
  options: WatchOptions = {},
): Promise<RemoteExit> {
  const { stdin, stdout } = process
  const { channel, closed } = await technician.watch()
  if (!(stdin.isTTY && stdout.isTTY)) {
    channel.pipe(stdout, { end: false })
    channel.stderr.resume()
    return closed
  }
  const bar = new StatusBar(stdout)
  let control: ClientChannel | undefined
  let asking = false
  let menu = false
  let note = ''
  const redraw = () => {
    const text = menu
      ? `c ask to type · q ${options.fromShell ? 'back to your shell' : 'stop watching'} · Ctrl-] types Ctrl-] · any other key: back`
      : `watching the end user's terminal · ${control ? 'you may type' : asking ? 'asking to type…' : 'read only'} · Ctrl-] menu${note ? ` · ${note}` : ''}`
    bar.draw(`rescue: ${text}`.slice(0, bar.cols))
  }
  const sendSize = () => channel.write(encodeSize(bar.cols, bar.programRows))
  const askControl = () => {
    if (control || asking) return
    asking = true
    note = ''
    redraw()
    technician.control().then(
      ({ channel: granted, closed: over }) => {
        asking = false
        control = granted
        note = ''
        redraw()
        void over.then((exit) => {
          control = undefined
          note =
            exit.message === CONTROL_TAKEN_BACK ? 'the end user took control back' : 'you can no longer type'
          redraw()
        })
      },
      (error: unknown) => {
        asking = false
        note = error instanceof UserError ? error.message : 'could not ask to type'
        redraw()
      },
    )
  }
  const onKeys = (chunk: Buffer) => {
    let text = chunk.toString('utf8')
    while (text.length > 0) {
      if (menu) {
        const key = text[0]!
        text = text.slice(1)
        menu = false
        if (key === 'c') askControl()
        if (key === 'q') channel.close()
        if (key === MENU_KEY) channel.write(encodeKeys(Buffer.from(MENU_KEY)))
        redraw()
        continue
      }
      const at = text.indexOf(MENU_KEY)
      const keys = at < 0 ? text : text.slice(0, at)
      if (keys) channel.write(encodeKeys(Buffer.from(keys, 'utf8')))
      if (at < 0) return
      menu = true
      redraw()
      text = text.slice(at + 1)
    }
  }
  const onResize = () => {
    bar.refit()
    sendSize()
  }
  if (options.fromShell) stdout.write('\u001b[?1049h')
  bar.start()
  redraw()
  sendSize()
  channel.on('data', (data: Buffer) => bar.output(data))
  channel.stderr.resume()
  stdin.setRawMode(true)
  stdin.on('data', onKeys)
  stdin.resume()
  stdout.on('resize', onResize)
  try {
    return await closed
  } finally {
    control?.close()
    stdout.off('resize', onResize)
    stdin.off('data', onKeys)
    bar.stop()
    if (options.fromShell) stdout.write('\u001b[?1049l')
    else {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.unref?.()
    }
  }
}
