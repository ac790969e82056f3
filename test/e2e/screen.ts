/**
 * What a terminal of a given size shows after some output: @xterm/headless (xterm.js without a
 * renderer) plays the bytes a command wrote to its PTY, so a test can check the screen a person
 * would see (a line that wrapped, a progress bar left behind) and print it in the test's output.
 */
import xterm from '@xterm/headless'

export interface Screen {
  cols: number
  rows: number
  /** The visible rows, trailing blanks trimmed. */
  lines: string[]
  /** Indexes of visible rows that continue the row above: text that wrapped. */
  wrapped: number[]
}

/** Plays `output` on a `cols` x `rows` terminal and returns what it shows. */
export async function screenOf(output: string, cols: number, rows: number): Promise<Screen> {
  const terminal = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 0 })
  await new Promise<void>((resolve) => terminal.write(output, resolve))
  const buffer = terminal.buffer.active
  const lines: string[] = []
  const wrapped: number[] = []
  for (let row = 0; row < rows; row++) {
    const line = buffer.getLine(buffer.viewportY + row)
    lines.push(line?.translateToString(true) ?? '')
    if (line?.isWrapped) wrapped.push(row)
  }
  terminal.dispose()
  return { cols, rows, lines, wrapped }
}

/** The screen framed, for the test's output: what a reviewer reads to see the layout. */
export function printScreen(title: string, screen: Screen): void {
  const edge = `+${'-'.repeat(screen.cols)}+`
  const body = screen.lines.map((line) => `|${line.padEnd(screen.cols)}|`)
  console.log([`${title} (${screen.cols}x${screen.rows})`, edge, ...body, edge].join('\n'))
}
