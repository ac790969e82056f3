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
const MIN_BAR_WIDTH = 8
// A name cut shorter than this says nothing: drop figures before cutting it further.
const MIN_LABEL_WIDTH = 10

/**
 * "fix.sh [########------------]  40% 4.0 MiB / 10.0 MiB 85.3 MiB/s". Given `width` (the
 * terminal's columns), the line is laid out to fit in one column less than that, so it never
 * wraps: the bar narrows, then the speed, the total and the bar go, and the name is cut at its
 * start ("…long/name.bin"), in that order.
 */
export function progressLine(figures: ProgressFigures, width?: number): string {
  const { label, bytes, total, bytesPerSecond } = figures
  const rate = bytesPerSecond !== undefined ? `${formatSize(Math.round(bytesPerSecond))}/s` : undefined
  const budget = width === undefined ? Infinity : Math.max(1, width - 1)
  if (total === undefined || total <= 0) {
    return layout(label, undefined, [[formatSize(bytes), rate], [formatSize(bytes)], []], budget)
  }
  const fraction = Math.min(1, bytes / total)
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
  const amounts = `${formatSize(bytes)} / ${formatSize(total)}`
  return layout(
    label,
    fraction,
    [[percent, amounts, rate], [percent, amounts], [percent, formatSize(bytes)], [percent]],
    budget,
  )
}

/** The richest of `tails` that fits `budget` columns beside the label (and a bar when `fraction` is given). */
function layout(
  label: string,
  fraction: number | undefined,
  tails: (string | undefined)[][],
  budget: number,
): string {
  const labelWidth = displayWidth(label)
  for (const parts of tails) {
    const tail = parts.filter((part) => part !== undefined).join(' ')
    const tailWidth = tail ? displayWidth(tail) + 1 : 0
    if (fraction === undefined) {
      const room = budget - tailWidth
      if (room >= Math.min(labelWidth, MIN_LABEL_WIDTH)) return joined(cutStart(label, room), tail)
      continue
    }
    // The bar takes what the label leaves, between its narrowest and its full width.
    const room = budget - tailWidth
    const barInner = Math.min(BAR_WIDTH, room - Math.min(labelWidth, MIN_LABEL_WIDTH) - 3)
    if (barInner < MIN_BAR_WIDTH) continue
    const filled = Math.round(fraction * barInner)
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(barInner - filled)}]`
    return joined(`${cutStart(label, room - barInner - 3)} ${bar}`, tail)
  }
  const last = tails[tails.length - 1]!.filter((part) => part !== undefined).join(' ')
  const room = budget - (last ? displayWidth(last) + 1 : 0)
  if (room >= 2) return joined(cutStart(label, room), last)
  return cutStart(last || label, budget)
}

function joined(head: string, tail: string): string {
  return tail ? `${head} ${tail}` : head
}

/** `text` within `width` columns, cut at its start with "…" when longer. */
export function cutStart(text: string, width: number): string {
  if (displayWidth(text) <= width) return text
  if (width <= 0) return ''
  const kept: string[] = []
  let used = 1
  const chars = [...text]
  for (let index = chars.length - 1; index >= 0; index--) {
    const char = chars[index]!
    const charWidth = displayWidth(char)
    if (used + charWidth > width) break
    kept.unshift(char)
    used += charWidth
  }
  return `…${kept.join('')}`
}

// East Asian wide and fullwidth characters and most emoji take two columns; combining marks none.
const WIDE =
  /[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1F64F}\u{1F900}-\u{1FAFF}\u{20000}-\u{3FFFD}]/u
const ZERO = /^(?:\p{Mn}|\p{Me}|\p{Cf})$/u

/** Columns `text` takes on a terminal (text already sanitized: no control characters). */
export function displayWidth(text: string): number {
  let width = 0
  for (const char of text) width += ZERO.test(char) ? 0 : WIDE.test(char) ? 2 : 1
  return width
}
