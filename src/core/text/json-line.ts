/**
 * One JSON value as one line, safe to print on a terminal: JSON.stringify escapes C0 controls but
 * leaves C1 controls (U+0080-U+009F, e.g. the one-byte CSI) and bidirectional overrides raw, so a
 * hostile name could still drive the terminal or reorder what is shown. Those are escaped too; the
 * result is still the same JSON.
 */
const UNSAFE = /[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g

export function toJsonLine(value: unknown): string {
  return JSON.stringify(value).replace(
    UNSAFE,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}
