/**
 * The end user's shared terminal (`rescue host --share`): their own shell in a PTY, drawn on their
 * own terminal as usual, and streamed read-only to every technician's `view@rescue` channel. Keys
 * reach the shell from the end user always, and from a technician only through `type`, which the
 * host's SSH server calls only while the end user lets them (`control`). The PTY takes the
 * smallest of the windows that show it (tmate's rule), so nobody's view is cut. Imports core only.
 */
import type { IPty } from '@lydell/node-pty'

export {
  encodeKeys,
  encodeOutput,
  encodeSize,
  ViewFrameDecoder,
  ViewFrameError,
  type ViewFrame,
} from './frames.js'
export { VIEW_SUBSYSTEM, CONTROL_SUBSYSTEM } from '../ssh/subsystems.js'

export type Typist = 'end user' | 'technician'

/** One window showing the terminal: the end user's own, or a technician's. */
export interface Window {
  cols: number
  rows: number
}

/** A technician's view: what it shows the terminal in, and where its output goes. */
export interface Viewer extends Window {
  write(data: string): void
}

export interface SharedTerminalOptions {
  /** The shell and its arguments; the end user's login shell by default. */
  shell: string
  args: string[]
  cwd: string
  env: NodeJS.ProcessEnv
  /** The end user's window for the shell (their terminal less the status line). */
  window: Window
  /** The shell's output, for the end user's own screen. */
  onOutput(data: string): void
  /** Who typed last, the size, or the viewers changed: the status line is redrawn. */
  onChange(): void
  onExit(exitCode: number): void
}

/** Output kept for a viewer that joins late: enough for a screen or two of a busy shell. */
const REPLAY_BYTES = 64 * 1024
const MIN_COLS = 10
const MIN_ROWS = 2

export class SharedTerminal {
  private readonly viewers = new Set<Viewer>()
  /** Viewers whose window size is known: only they count for the smallest window. */
  private readonly sized = new WeakSet<Viewer>()
  private recent = ''
  private local: Window
  private exited = false
  private size: Window
  /** Who typed last; undefined before anyone did. */
  lastTyped?: Typist

  private constructor(
    private readonly pty: IPty,
    private readonly options: SharedTerminalOptions,
  ) {
    this.local = options.window
    this.size = { ...options.window }
    pty.onData((data) => {
      this.recent = (this.recent + data).slice(-REPLAY_BYTES)
      options.onOutput(data)
      for (const viewer of this.viewers) viewer.write(data)
    })
    pty.onExit(({ exitCode }) => {
      this.exited = true
      // node-pty may report the exit before the last output has been read.
      setTimeout(() => options.onExit(exitCode), 50)
    })
  }

  /** Starts the shell; node-pty loads only when a terminal is shared. */
  static async start(options: SharedTerminalOptions): Promise<SharedTerminal> {
    const nodePty = await import('@lydell/node-pty')
    const pty = nodePty.spawn(options.shell, options.args, {
      name: options.env.TERM || 'xterm-256color',
      cols: Math.max(options.window.cols, MIN_COLS),
      rows: Math.max(options.window.rows, MIN_ROWS),
      cwd: options.cwd,
      env: options.env as Record<string, string>,
    })
    return new SharedTerminal(pty, options)
  }

  /** The PTY's size: the smallest window showing it. */
  get window(): Window {
    return { ...this.size }
  }

  /** How many technicians' views show the terminal. */
  get viewerCount(): number {
    return this.viewers.size
  }

  get hasExited(): boolean {
    return this.exited
  }

  /** The end user's keys: always theirs to type. */
  typeLocal(keys: string | Buffer): void {
    this.input('end user', keys)
  }

  /** A technician's keys. Only the host's SSH server calls it, and only while `control` is allowed. */
  typeRemote(keys: string | Buffer): void {
    this.input('technician', keys)
  }

  /** Adds a technician's view: it gets the recent output at once, then everything as it comes. */
  addViewer(viewer: Viewer): () => void {
    this.viewers.add(viewer)
    if (this.recent) viewer.write(this.recent)
    this.fit()
    this.options.onChange()
    return () => {
      if (!this.viewers.delete(viewer)) return
      this.fit()
      this.options.onChange()
    }
  }

  /** A technician's window changed size. */
  resizeViewer(viewer: Viewer, window: Window): void {
    viewer.cols = window.cols
    viewer.rows = window.rows
    this.sized.add(viewer)
    this.fit()
  }

  /** The end user's window changed size. */
  resizeLocal(window: Window): void {
    this.local = window
    this.fit()
  }

  /** Hangs up the shell (the end user quit rescue). */
  close(): void {
    if (this.exited) return
    try {
      this.pty.kill('SIGHUP')
    } catch {
      // Already gone.
    }
  }

  private input(who: Typist, keys: string | Buffer): void {
    if (this.exited) return
    this.pty.write(typeof keys === 'string' ? keys : keys.toString('utf8'))
    if (this.lastTyped !== who) {
      this.lastTyped = who
      this.options.onChange()
    }
  }

  private fit(): void {
    const windows = [this.local, ...[...this.viewers].filter((viewer) => this.sized.has(viewer))]
    const cols = Math.max(MIN_COLS, Math.min(...windows.map((window) => window.cols)))
    const rows = Math.max(MIN_ROWS, Math.min(...windows.map((window) => window.rows)))
    if (cols === this.size.cols && rows === this.size.rows) return
    this.size = { cols, rows }
    if (!this.exited) this.pty.resize(cols, rows)
  }
}
