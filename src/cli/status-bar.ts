/**
 * A one-line status bar on the last row of a terminal, under a program that owns the rest: the
 * rows above are a scroll region, so the program's output scrolls without touching the bar.
 * Used by `rescue host --share` (the end user's shell) and `rescue connect --watch`.
 */

// A full reset, a reset of the scroll region, or a switch of screens undoes ours.
// eslint-disable-next-line no-control-regex
const UNDOES_REGION = /\u001bc|\u001b\[r|\u001b\[\?(1049|1047|47)[hl]/

export class StatusBar {
  private text = ''
  private stopped = false

  constructor(private readonly out: NodeJS.WriteStream) {}

  /** The rows left to the program above the bar. */
  get programRows(): number {
    return Math.max(this.rows - 1, 1)
  }

  get cols(): number {
    return this.out.columns || 80
  }

  private get rows(): number {
    return this.out.rows || 24
  }

  /** Clears the screen and keeps the last row for the bar. */
  start(): void {
    this.out.write(`\u001b[H\u001b[2J${this.region()}\u001b[H`)
  }

  /** The program's output, and the bar again when the output undid its row. */
  output(data: string | Buffer): void {
    if (this.stopped) return
    this.out.write(data)
    const text = typeof data === 'string' ? data : data.toString('latin1')
    if (UNDOES_REGION.test(text)) this.refit()
  }

  /** The terminal changed size (or the region was lost): the region and the bar again. */
  refit(): void {
    if (this.stopped) return
    this.out.write(`\u001b7${this.region()}\u001b8`)
    this.draw(this.text)
  }

  draw(text: string): void {
    this.text = text
    if (this.stopped) return
    // Save and restore the cursor (with its attributes): the program's cursor stays where it was.
    this.out.write(`\u001b7\u001b[${this.rows};1H\u001b[2K\u001b[7m${text}\u001b[0m\u001b8`)
  }

  /** Gives the whole screen back, with the cursor on a fresh line at the bottom. */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.out.write(`\u001b[r\u001b[${this.rows};1H\u001b[2K\r\n`)
  }

  private region(): string {
    return `\u001b[1;${this.programRows}r`
  }
}
