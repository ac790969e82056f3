/**
 * `rescue host --share`: the end user's own shell fills their terminal as usual, with the status
 * bar on the last row. Their keys go to the shell, except Ctrl-], which takes control back from the
 * technician at once and opens the menu (answer the waiting question, revoke, end). Keys from the
 * technician never pass through here: a prompt can only be answered at this keyboard.
 */
import os from 'node:os'
import type { Decision } from '../core/consent/index.js'
import type { HostEvent, HostSession } from '../core/host/index.js'
import { SharedTerminal } from '../core/share/index.js'
import {
  initialShareStatus,
  MENU_KEY,
  promptFits,
  reduceShareStatus,
  statusLine,
  type ShareAction,
} from '../core/share/status.js'
import type { Display } from './run-session.js'
import { StatusBar } from './status-bar.js'

export interface ShareScreen {
  share: SharedTerminal
  display: Display<HostEvent>
  /** Called once the host session exists: the menu's keys act on it. */
  attach(host: HostSession): void
}

export async function startShareScreen(): Promise<ShareScreen> {
  const { stdin, stdout } = process
  const bar = new StatusBar(stdout)
  let state = initialShareStatus()
  let host: HostSession | undefined
  let shellExited!: () => void
  const exited = new Promise<void>((resolve) => (shellExited = resolve))
  const redraw = () => bar.draw(statusLine(state, share?.lastTyped, bar.cols))
  const dispatch = (action: ShareAction) => {
    state = reduceShareStatus(state, action)
    redraw()
  }

  bar.start()
  const share: SharedTerminal = await SharedTerminal.start({
    shell: process.env.SHELL || os.userInfo().shell || '/bin/sh',
    args: [],
    cwd: process.cwd(),
    env: process.env,
    window: { cols: bar.cols, rows: bar.programRows },
    onOutput: (data) => bar.output(data),
    onChange: () => redraw(),
    onExit: () => {
      // The end user closed their shell: there is nothing left to share.
      host?.end({ reason: 'the end user closed their shared shell' })
      shellExited()
    },
  })
  redraw()

  const menuKey = (key: string) => {
    dispatch({ event: 'menu', open: false })
    const prompt = state.prompts[0]
    const decisions: Record<string, Decision> = { a: 'once', s: 'session', d: 'deny' }
    if (state.words && (key === 'y' || key === 'n')) return host?.confirmWords(key === 'y')
    // A request that does not show whole on the status line can only be denied (see promptFits).
    if (prompt && decisions[key] && (key === 'd' || promptFits(state, bar.cols))) {
      return host?.answer(prompt.id, decisions[key])
    }
    if (key === 'r') return host?.revoke()
    // 1-9: remove that invited technician, as numbered on the status line.
    const invited = /^[1-9]$/.test(key) ? state.invited[Number(key) - 1] : undefined
    if (invited) return host?.remove(invited.email)
    if (key === 'q') return host?.end()
    if (key === MENU_KEY) share.typeLocal(MENU_KEY)
  }
  const onKeys = (chunk: Buffer) => {
    let text = chunk.toString('utf8')
    while (text.length > 0) {
      if (state.menu) {
        menuKey(text[0]!)
        text = text.slice(1)
        continue
      }
      const at = text.indexOf(MENU_KEY)
      if (at < 0) return share.typeLocal(text)
      if (at > 0) share.typeLocal(text.slice(0, at))
      // Control back first, before anything else is read: one key is enough.
      if (state.typing > 0) host?.takeControlBack()
      dispatch({ event: 'menu', open: true })
      text = text.slice(at + 1)
    }
  }
  const onResize = () => {
    share.resizeLocal({ cols: bar.cols, rows: bar.programRows })
    bar.refit()
  }
  stdin.setRawMode(true)
  stdin.on('data', onKeys)
  stdin.resume()
  stdout.on('resize', onResize)

  return {
    share,
    attach(session) {
      host = session
    },
    display: {
      show: (event) => dispatch(event),
      async close() {
        redraw()
        // No session ever started (a wrong PIN, the gateway away): the shell was only waiting for it.
        if (!host) share.close()
        // The session is over; the shell is the end user's and goes on until they leave it.
        await exited
        stdout.off('resize', onResize)
        stdin.off('data', onKeys)
        stdin.setRawMode(false)
        stdin.pause()
        stdin.unref?.()
        bar.stop()
      },
    },
  }
}
