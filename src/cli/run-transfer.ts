/**
 * What `rescue send` and `rescue get` share: the live session's transfers, a progress bar on a
 * terminal, notices on stderr, a sentence or a JSON document at the end, and a clean stop on
 * Ctrl-C that leaves the partial file for `--resume`.
 */
import { findControlSocket } from '../core/control/index.js'
import { requestTransfer } from '../core/control/transfers.js'
import { UserError } from '../core/errors.js'
import { progressLine } from '../core/text/progress.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'
import { formatSize } from '../core/text/size.js'
import type { CopyEvents, FileCopied } from '../core/transfer/copy.js'
import { onSignal, signalCode } from './signals.js'

export type Direction = 'send' | 'get'

export interface TransferRequest {
  direction: Direction
  from: string
  to: string
  recursive: boolean
  resume: boolean
  session?: string
  json: boolean
}

/** What `--json` prints: one file, or a tree and its files. */
export interface TransferReport {
  direction: Direction
  from: string
  to: string
  files: FileCopied[]
  /** The files' sizes added up. */
  bytes: number
  /** The bytes this run moved: less than `bytes` when a resume found some already there. */
  moved: number
  /** Time spent moving them, once allowed: not the wait for the end user's consent. */
  seconds: number
  /** The file's SHA-256 when one file moved. */
  sha256?: string
}

const REDRAW_MS = 100

export async function runTransfer(request: TransferRequest): Promise<TransferReport> {
  const socketPath = findControlSocket(request.session)
  // Notices go to stderr either way; the bar only where a person watches.
  const display = progressDisplay(process.stderr, !request.json)
  const stopped = new AbortController()
  const interrupted = new Promise<never>((_resolve, reject) => {
    const stop = onSignal((signal) => {
      stop()
      stopped.abort()
      reject(
        new UserError(
          signalCode(signal),
          'interrupted',
          // Before anything arrived there is nothing to continue from.
          display.arrived()
            ? 'run the same command with --resume to continue from what arrived'
            : 'nothing had arrived: run the same command to start again',
        ),
      )
    })
  })
  try {
    // rescue connect runs the copy on its own SSH connection; this process only shows it.
    const work = requestTransfer(
      socketPath,
      {
        direction: request.direction,
        from: request.from,
        to: request.to,
        recursive: request.recursive,
        resume: request.resume,
      },
      display.events,
      stopped.signal,
    )
    const files = await Promise.race([work, interrupted])
    display.finish()
    const report: TransferReport = {
      direction: request.direction,
      from: request.from,
      to: request.to,
      files,
      bytes: files.reduce((sum, file) => sum + file.bytes, 0),
      moved: files.reduce((sum, file) => sum + file.moved, 0),
      seconds: Math.round(files.reduce((sum, file) => sum + file.seconds, 0) * 1000) / 1000,
      ...(files.length === 1 && !request.recursive ? { sha256: files[0]!.sha256 } : {}),
    }
    if (!request.json) process.stdout.write(`${describe(report)}\n`)
    return report
  } finally {
    display.finish()
  }
}

/**
 * "sent fix.sh to /tmp/fix.sh: 1.2 KiB in 0.1 s, 12.0 KiB/s, SHA-256 9f86d0… matches on both ends";
 * after a resume, "10.0 MiB (4.0 MiB moved, 6.0 MiB already there) in …": the speed is of the
 * bytes moved, over the time they took.
 */
function describe(report: TransferReport): string {
  const verb = report.direction === 'send' ? 'sent' : 'got'
  const rate =
    report.seconds > 0 && report.moved > 0
      ? `, ${formatSize(Math.round(report.moved / report.seconds))}/s`
      : ''
  const show = (text: string) => sanitizeForTerminal(text, 300)
  const amount = (bytes: number, moved: number) =>
    moved < bytes
      ? `${formatSize(bytes)} (${formatSize(moved)} moved, ${formatSize(bytes - moved)} already there)`
      : formatSize(bytes)
  if (report.sha256 !== undefined && report.files.length === 1) {
    const file = report.files[0]!
    const [source, target] =
      report.direction === 'send' ? [file.local, file.remote] : [file.remote, file.local]
    return `${verb} ${show(source)} to ${show(target)}: ${amount(file.bytes, file.moved)} in ${file.seconds} s${rate}, SHA-256 ${file.sha256} matches on both ends`
  }
  const skipped = report.files.filter((file) => file.skipped).length
  const kept = skipped > 0 ? ` (${skipped} already there and checked)` : ''
  return `${verb} ${report.files.length} files${kept} from ${show(report.from)} to ${show(report.to)}: ${amount(report.bytes, report.moved)} in ${report.seconds} s${rate}, every SHA-256 matches on both ends`
}

/**
 * A progress bar when `bar` and on a terminal, laid out for the terminal's width at each redraw
 * (so it never wraps, even after a resize); notices as lines. `finish` erases the bar for good:
 * requests still in flight after an error draw nothing over its message.
 */
function progressDisplay(
  stream: NodeJS.WriteStream,
  bar: boolean,
): { events: CopyEvents; finish(): void; arrived(): boolean } {
  const live = bar && stream.isTTY
  let current: { label: string; size: number; from?: number; started: number; drawnAt: number } | undefined
  let drawn = false
  let finished = false
  let arrived = false
  const clear = () => {
    if (drawn) stream.write('\r\u001b[K')
    drawn = false
  }
  const draw = (bytes: number, force = false) => {
    if (!live || !current || finished) return
    const now = performance.now()
    if (!force && now - current.drawnAt < REDRAW_MS) return
    current.drawnAt = now
    // The speed is of the bytes moved since the first one (after consent), not of those already there.
    const elapsed = (now - current.started) / 1000
    const moved = bytes - (current.from ?? bytes)
    const line = progressLine(
      {
        label: current.label,
        bytes,
        total: current.size,
        ...(elapsed > 0.2 && moved > 0 ? { bytesPerSecond: moved / elapsed } : {}),
      },
      // Two columns spare: a terminal echoes "^C" after the bar, which must not wrap onto a new line.
      (stream.columns || 80) - 2,
    )
    stream.write(`\r\u001b[K${line}`)
    drawn = true
  }
  return {
    events: {
      onFile(name, size) {
        clear()
        current = { label: sanitizeForTerminal(name, 200), size, started: performance.now(), drawnAt: 0 }
        draw(0, true)
      },
      onProgress(bytes) {
        if (bytes > 0) arrived = true
        // The first report comes once the end user has allowed the file, with what a resume kept.
        if (current && current.from === undefined) {
          current.from = bytes
          current.started = performance.now()
        }
        draw(bytes)
      },
      onNotice(text) {
        clear()
        stream.write(`${sanitizeForTerminal(text, 500)}\n`)
      },
    },
    finish() {
      clear()
      finished = true
    },
    arrived: () => arrived,
  }
}
