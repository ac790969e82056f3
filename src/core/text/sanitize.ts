/**
 * Text from the other side is hostile (DESIGN.md: escape sequences in file names, croc
 * GHSA-364c-vvqx-446c). Before it reaches a terminal, control characters are shown escaped and
 * the length is bounded.
 */

// C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu

/** Escapes control characters (`\x1b`, `\u202e`) and cuts to `maxLength` characters with an ellipsis. */
export function sanitizeForTerminal(text: string, maxLength = 200): string {
  const escaped = text.replace(UNSAFE, (char) => {
    const code = char.codePointAt(0) ?? 0
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`
  })
  const chars = [...escaped]
  if (maxLength <= 0) return ''
  return chars.length <= maxLength ? escaped : `${chars.slice(0, maxLength - 1).join('')}…`
}
