/**
 * One JSON value as one line, safe to print on a terminal: JSON.stringify escapes C0 controls but
 * leaves C1 controls (U+0080-U+009F, e.g. the one-byte CSI), bidirectional overrides, zero-width
 * and other invisible characters raw, so a hostile name could still drive the terminal, reorder
 * what is shown or hide text. Those are escaped too (the same set as sanitizeForTerminal); the
 * result is still the same JSON.
 */
import { escapeInvisible } from './sanitize.js'

const hex4 = (unit: number) => `\\u${unit.toString(16).padStart(4, '0')}`

/** A JSON string escape: one `\uXXXX`, or a surrogate pair of them above the BMP. */
function jsonEscape(code: number): string {
  if (code <= 0xffff) return hex4(code)
  const offset = code - 0x10000
  return hex4(0xd800 + (offset >> 10)) + hex4(0xdc00 + (offset & 0x3ff))
}

export function toJsonLine(value: unknown): string {
  // Outside its strings, JSON.stringify writes only ASCII punctuation, digits and letters: every
  // character escaped here is inside a string, where `\uXXXX` means the same character.
  return escapeInvisible(JSON.stringify(value), jsonEscape)
}
