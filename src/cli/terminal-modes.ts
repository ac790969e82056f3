/**
 * Which terminal modes the remote side turned on and left on: the alternate screen, a hidden
 * cursor, bracketed paste, mouse reporting, application cursor keys and keypad. A full-screen
 * program killed by a revoke cannot undo them, so the technician's terminal would stay in vim's
 * screen with no cursor; `restore` gives the sequences that undo exactly what is still on.
 */

// CSI ? n h / l, possibly several numbers: ESC [ ? 1049 ; 25 h
// eslint-disable-next-line no-control-regex
const PRIVATE_MODE = /\u001b\[\?([\d;]+)([hl])/g
// eslint-disable-next-line no-control-regex
const KEYPAD = /\u001b([=>])/g

const ALT_SCREEN = new Set([47, 1047, 1049])
const MOUSE = [1000, 1002, 1003, 1005, 1006, 1015]

export class TerminalModes {
  private altScreen = false
  private cursorHidden = false
  private bracketedPaste = false
  private appCursorKeys = false
  private appKeypad = false
  private readonly mouse = new Set<number>()
  // A sequence split between two chunks is read whole with the next one.
  private tail = ''

  /** Reads one chunk of the remote side's output. */
  feed(chunk: Buffer | string): void {
    const text = this.tail + (typeof chunk === 'string' ? chunk : chunk.toString('latin1'))
    const escape = text.lastIndexOf('\u001b')
    this.tail = escape >= 0 && text.length - escape < 16 ? text.slice(escape) : ''
    for (const [, numbers, action] of text.matchAll(PRIVATE_MODE)) {
      const on = action === 'h'
      for (const mode of numbers!.split(';').map(Number)) this.set(mode, on)
    }
    for (const [, key] of text.matchAll(KEYPAD)) this.appKeypad = key === '='
  }

  /** The sequences that turn off what is still on (empty when nothing is). */
  restore(): string {
    let out = ''
    for (const mode of this.mouse) out += `\u001b[?${mode}l`
    if (this.bracketedPaste) out += '\u001b[?2004l'
    if (this.appCursorKeys) out += '\u001b[?1l'
    if (this.appKeypad) out += '\u001b>'
    if (this.altScreen) out += '\u001b[?1049l'
    if (this.cursorHidden) out += '\u001b[?25h'
    // Colours and bold a killed program left on would colour the technician's next lines.
    return out ? `\u001b[0m${out}` : ''
  }

  private set(mode: number, on: boolean): void {
    if (ALT_SCREEN.has(mode)) this.altScreen = on
    else if (mode === 25) this.cursorHidden = !on
    else if (mode === 2004) this.bracketedPaste = on
    else if (mode === 1) this.appCursorKeys = on
    else if (MOUSE.includes(mode)) {
      if (on) this.mouse.add(mode)
      else this.mouse.delete(mode)
    }
  }
}
