/** One line of text for a file on its way, shared by the host's view and `rescue send` / `get`. */
import { formatSize } from './size.js'

export interface ProgressFigures {
  label: string
  bytes: number
  /** Unknown for an upload whose size was not announced. */
  total?: number
  bytesPerSecond?: number
}

const BAR_WIDTH = 20

/** "fix.sh [########------------]  40% 4.0 MiB / 10.0 MiB 85.3 MiB/s" */
export function progressLine({ label, bytes, total, bytesPerSecond }: ProgressFigures): string {
  const rate = bytesPerSecond !== undefined ? ` ${formatSize(Math.round(bytesPerSecond))}/s` : ''
  if (total === undefined || total <= 0) return `${label} ${formatSize(bytes)}${rate}`
  const fraction = Math.min(1, bytes / total)
  const filled = Math.round(fraction * BAR_WIDTH)
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
  return `${label} ${bar} ${percent} ${formatSize(bytes)} / ${formatSize(total)}${rate}`
}
