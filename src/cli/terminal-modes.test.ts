import { describe, expect, it } from 'vitest'
import { TerminalModes } from './terminal-modes.js'

describe('terminal modes a killed remote program left on', () => {
  it('nothing to undo after a plain shell', () => {
    const modes = new TerminalModes()
    modes.feed('$ ls\r\nfile\r\n$ ')
    expect(modes.restore()).toBe('')
  })

  it('undoes what vim turned on: the alternate screen, a hidden cursor, bracketed paste, the mouse', () => {
    const modes = new TerminalModes()
    modes.feed('\u001b[?1049h\u001b[?1h\u001b=\u001b[?25l\u001b[?2004h\u001b[?1000;1006h')
    const restore = modes.restore()
    for (const sequence of [
      '\u001b[?1049l',
      '\u001b[?25h',
      '\u001b[?2004l',
      '\u001b[?1000l',
      '\u001b[?1006l',
      '\u001b[?1l',
      '\u001b>',
    ]) {
      expect(restore).toContain(sequence)
    }
  })

  it('only what is still on: a program that cleaned up leaves nothing to undo', () => {
    const modes = new TerminalModes()
    modes.feed('\u001b[?1049h\u001b[?25l')
    modes.feed('\u001b[?25h\u001b[?1049l')
    expect(modes.restore()).toBe('')
  })

  it('reads a sequence split between two chunks', () => {
    const modes = new TerminalModes()
    modes.feed('top\u001b[?10')
    modes.feed('49h')
    expect(modes.restore()).toContain('\u001b[?1049l')
  })
})
