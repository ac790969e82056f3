/**
 * The end user's side of `rescue present`: while a technician shows their terminal, it fills the
 * end user's screen under a status bar saying who shows it, read only. The end user's keys go
 * nowhere but here: `q` (or Ctrl-]) stops watching, Ctrl-C ends the session. The host's own view
 * steps aside meanwhile and comes back, up to date, when the presentation ends. A question for the
 * end user that arrives meanwhile is announced on the bar (q shows it; silence denies it).
 */
import type { HostEvent } from '../core/host/index.js'
import type { PresentScreen, PresentStage } from '../core/present/index.js'
import { MENU_KEY } from '../core/share/status.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'
import { StatusBar } from './status-bar.js'
import { TerminalModes } from './terminal-modes.js'

export interface HostScreenHooks {
  /** The host's view lets go of the terminal; resolves once it drew its last. */
  suspend(): Promise<void>
  /** The host's view draws itself again. */
  resume(): void
  /** Ctrl-C: ends the session, as in the host's view. */
  interrupt(): void
}

export interface PresentStageOnTerminal extends PresentStage {
  /** The host's events, for what the bar must say while a presentation hides the view. */
  notice(event: HostEvent): void
}

export function presentStage(hooks: HostScreenHooks): PresentStageOnTerminal {
  const { stdin, stdout } = process
  let current: { screen: PresentScreen; notice(event: HostEvent): void } | undefined
  return {
    get busy() {
      return current !== undefined
    },
    notice: (event) => current?.notice(event),
    show({ technician, onStop, onResize }) {
      if (current) return undefined
      const bar = new StatusBar(stdout)
      const modes = new TerminalModes()
      const who = sanitizeForTerminal(technician, 120)
      let waiting = false
      const redraw = () => {
        // The keys first: on a narrow window the end of the line is cut, and they must show.
        const news = waiting ? 'a question waits for you: q to see it · ' : ''
        bar.draw(
          `rescue: ${news}q stop watching · Ctrl-C end the session · ${who} is showing you their terminal, read only: nothing you type reaches it`.slice(
            0,
            bar.cols,
          ),
        )
      }
      const onKeys = (chunk: Buffer) => {
        const text = chunk.toString('utf8')
        if (text.includes('\u0003')) return hooks.interrupt()
        // A key, not the terminal's answer to a query (those start with ESC).
        if (text.startsWith('\u001b')) return
        if (/[qQ]/.test(text) || text.includes(MENU_KEY)) onStop()
      }
      const onResizeTerminal = () => {
        bar.refit()
        onResize({ cols: bar.cols, rows: bar.programRows })
      }
      let closed = false
      // Output that comes before the host's view let go of the screen waits for it.
      let pending: Buffer[] | undefined = []
      const screen: PresentScreen = {
        window: { cols: bar.cols, rows: bar.programRows },
        write(data) {
          if (closed) return
          if (pending) return void pending.push(data)
          modes.feed(data)
          bar.output(data)
        },
        close() {
          if (closed) return
          closed = true
          current = undefined
          if (pending) {
            // Closed before it was ever drawn: the view comes back once it has let go.
            void ready.then(() => hooks.resume())
            return
          }
          stdout.off('resize', onResizeTerminal)
          stdin.off('data', onKeys)
          stdin.setRawMode(false)
          stdin.pause()
          // What the technician's programs left on (a hidden cursor, the other screen) is undone.
          stdout.write(modes.restore())
          bar.stop()
          stdout.write('\u001b[H\u001b[2J')
          hooks.resume()
        },
      }
      current = {
        screen,
        notice(event) {
          if (event.event === 'consent-request' || event.event === 'words-asked') {
            waiting = true
            redraw()
          }
        },
      }
      const ready = hooks.suspend().then(() => {
        if (closed) return
        bar.start()
        redraw()
        for (const data of pending ?? []) {
          modes.feed(data)
          bar.output(data)
        }
        pending = undefined
        stdin.setRawMode(true)
        stdin.on('data', onKeys)
        stdin.resume()
        stdout.on('resize', onResizeTerminal)
      })
      return screen
    },
  }
}
