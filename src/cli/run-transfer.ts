/**
 * What `rescue send` and `rescue get` share: the live session's transfers, a progress bar on a
 * terminal, notices on stderr, a sentence or a JSON document at the end, and a clean stop on
 * Ctrl-C that leaves the partial file for `--resume`.
 */
import { openControl } from '../core/control/index.js'
import { UserError } from '../core/errors.js'
import { progressLine } from '../core/text/progress.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'
import { formatSize } from '../core/text/size.js'
import { Transfers, type CopyEvents, type FileCopied } from '../core/transfer/copy.js'
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
  bytes: number
  seconds: number
  /** The file's SHA-256 when one file moved. */
  sha256?: string
}

const REDRAW_MS = 100

export async function runTransfer(request: TransferRequest): Promise<TransferReport> {
  const started = performance.now()
  const client = await openControl(request.session)
  const interrupted = new Promise<never>((_resolve, reject) => {
    const stop = onSignal((signal) => {
      stop()
      reject(
        new UserError(
          signalCode(signal),
          'interrupted',
          `run the same command with --resume to continue from what arrived`,
        ),
      )
    })
  })
  // Notices go to stderr either way; the bar only where a person watches.
  const display = progressDisplay(process.stderr, !request.json)
  try {
    const transfers = await Transfers.open(client)
    try {
      const options = { resume: request.resume, ...display.events }
      const work =
        request.direction === 'send'
          ? request.recursive
            ? transfers.sendTree(request.from, request.to, options)
            : transfers.sendFile(request.from, request.to, options).then((file) => [file])
          : request.recursive
            ? transfers.getTree(request.from, request.to, options)
            : transfers.getFile(request.from, request.to, options).then((file) => [file])
      const files = await Promise.race([work, interrupted])
      display.finish()
      const report: TransferReport = {
        direction: request.direction,
        from: request.from,
        to: request.to,
        files,
        bytes: files.reduce((sum, file) => sum + file.bytes, 0),
        seconds: Math.round(performance.now() - started) / 1000,
        ...(files.length === 1 && !request.recursive ? { sha256: files[0]!.sha256 } : {}),
      }
      if (!request.json) process.stdout.write(`${describe(report)}\n`)
      return report
    } finally {
      display.finish()
      transfers.close()
    }
  } finally {
    client.end()
  }
}

/** "sent fix.sh to /tmp/fix.sh: 1.2 KiB in 0.1 s, SHA-256 9f86d0… matches on both ends" */
function describe(report: TransferReport): string {
  const verb = report.direction === 'send' ? 'sent' : 'got'
  const rate = report.seconds > 0 ? `, ${formatSize(Math.round(report.bytes / report.seconds))}/s` : ''
  const show = (text: string) => sanitizeForTerminal(text, 300)
  if (report.sha256 !== undefined && report.files.length === 1) {
    const file = report.files[0]!
    const resumed = file.resumedFrom > 0 ? ` (resumed after ${formatSize(file.resumedFrom)})` : ''
    const [source, target] =
      report.direction === 'send' ? [file.local, file.remote] : [file.remote, file.local]
    return `${verb} ${show(source)} to ${show(target)}: ${formatSize(file.bytes)} in ${file.seconds} s${rate}${resumed}, SHA-256 ${file.sha256} matches on both ends`
  }
  const skipped = report.files.filter((file) => file.skipped).length
  const kept = skipped > 0 ? ` (${skipped} already there and checked)` : ''
  return `${verb} ${report.files.length} files${kept} from ${show(report.from)} to ${show(report.to)}: ${formatSize(report.bytes)} in ${report.seconds} s${rate}, every SHA-256 matches on both ends`
}

/** A progress bar when `bar` and on a terminal; notices as lines. */
function progressDisplay(stream: NodeJS.WriteStream, bar: boolean): { events: CopyEvents; finish(): void } {
  const live = bar && stream.isTTY
  let current: { label: string; size: number; started: number; drawnAt: number } | undefined
  let drawn = false
  const clear = () => {
    if (drawn) stream.write('\r\u001b[K')
    drawn = false
  }
  const draw = (bytes: number, force = false) => {
    if (!live || !current) return
    const now = performance.now()
    if (!force && now - current.drawnAt < REDRAW_MS) return
    current.drawnAt = now
    const elapsed = (now - current.started) / 1000
    const line = progressLine({
      label: current.label,
      bytes,
      total: current.size,
      ...(elapsed > 0.2 ? { bytesPerSecond: bytes / elapsed } : {}),
    })
    stream.write(`\r\u001b[K${line.slice(0, (stream.columns || 80) - 1)}`)
    drawn = true
  }
  return {
    events: {
      onFile(name, size) {
        clear()
        current = { label: sanitizeForTerminal(name, 60), size, started: performance.now(), drawnAt: 0 }
        draw(0, true)
      },
      onProgress: (bytes) => draw(bytes),
      onNotice(text) {
        clear()
        stream.write(`${sanitizeForTerminal(text, 500)}\n`)
      },
    },
    finish: clear,
  }
}
