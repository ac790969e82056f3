/**
 * `rescue present`, the technician's side: once the end user allowed it, the technician's own
 * shell runs in a PTY on this terminal as usual, with the status bar on the last row, and its
 * output goes to the end user's screen. The PTY takes the smaller of the two windows (as
 * `rescue host --share` does), so the end user sees every line whole. Ctrl-] opens the menu
 * (`q` stops presenting); leaving the shell stops it too. Nothing comes back but window sizes.
 */
import os from 'node:os'
import type ssh2 from 'ssh2'
import { UserError } from '../core/errors.js'
import { requestPresent } from '../core/present/index.js'
import { encodeOutput, SharedTerminal, type Viewer } from '../core/share/index.js'
import { MENU_KEY } from '../core/share/status.js'
import { StatusBar } from './status-bar.js'

export type PresentOutcome = 'left' | 'stopped-watching' | 'closed'

export async function runPresent(client: ssh2.Client, say: (line: string) => void): Promise<PresentOutcome> {
  const { stdin, stdout } = process
  if (!(stdin.isTTY && stdout.isTTY)) {
    throw new UserError(
      'usage',
      'rescue present shows the terminal you run it in: it needs one',
      'run it in the terminal you want the end user to see',
    )
  }
  say('waiting for the end user to allow it…')
  const presentation = await requestPresent(client)
  const { channel } = presentation
  const bar = new StatusBar(stdout)
  let menu = false
  let over: 'stopped-watching' | 'closed' | undefined
  let shellExited!: () => void
  const exited = new Promise<void>((resolve) => (shellExited = resolve))
  const redraw = () => {
    const size = `${terminal.window.cols}×${terminal.window.rows}`
    const text = menu
      ? 'q stop presenting (closes this shell) · Ctrl-] types Ctrl-] · any other key: back'
      : over === 'stopped-watching'
        ? 'the end user stopped watching · this shell is yours: exit it to leave'
        : over
          ? 'the end user no longer sees this terminal · exit the shell to leave'
          : `presenting this terminal to the end user (they only watch) · ${size} · Ctrl-] menu`
    bar.draw(`rescue: ${text}`.slice(0, bar.cols))
  }
  bar.start()
  const viewer: Viewer = {
    ...presentation.window,
    write: (data) => {
      if (!over && !channel.destroyed) channel.write(encodeOutput(Buffer.from(data, 'utf8')))
    },
  }
  const terminal: SharedTerminal = await SharedTerminal.start({
    shell: process.env.SHELL || os.userInfo().shell || '/bin/sh',
    args: [],
    cwd: process.cwd(),
    env: process.env,
    window: { cols: bar.cols, rows: bar.programRows },
    onOutput: (data) => bar.output(data),
    onChange: () => redraw(),
    onExit: () => shellExited(),
  })
  const removeViewer = terminal.addViewer(viewer)
  terminal.resizeViewer(viewer, presentation.window)
  presentation.onSize((window) => {
    terminal.resizeViewer(viewer, window)
    redraw()
  })
  void presentation.closed.then((why) => {
    over = why
    removeViewer()
    redraw()
  })
  redraw()

  const onKeys = (chunk: Buffer) => {
    let text = chunk.toString('utf8')
    while (text.length > 0) {
      if (menu) {
        const key = text[0]!
        text = text.slice(1)
        menu = false
        if (key === 'q') terminal.close()
        if (key === MENU_KEY) terminal.typeLocal(MENU_KEY)
        redraw()
        continue
      }
      const at = text.indexOf(MENU_KEY)
      if (at < 0) return terminal.typeLocal(text)
      if (at > 0) terminal.typeLocal(text.slice(0, at))
      menu = true
      redraw()
      text = text.slice(at + 1)
    }
  }
  const onResize = () => {
    bar.refit()
    terminal.resizeLocal({ cols: bar.cols, rows: bar.programRows })
    redraw()
  }
  stdin.setRawMode(true)
  stdin.on('data', onKeys)
  stdin.resume()
  stdout.on('resize', onResize)
  try {
    await exited
  } finally {
    stdout.off('resize', onResize)
    stdin.off('data', onKeys)
    stdin.setRawMode(false)
    stdin.pause()
    stdin.unref?.()
    if (!channel.destroyed) channel.close()
    bar.stop()
  }
  return over ?? 'left'
}
