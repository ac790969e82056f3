/**
 * Text from the other side is hostile (DESIGN.md: escape sequences in file names, croc
 * GHSA-364c-vvqx-446c). Before it reaches a terminal, every character that drives the terminal,
 * reorders text or cannot be seen is shown escaped, and the length is bounded.
 *
 * Escaped, by Unicode property rather than by hand lists, so new characters of these kinds are
 * caught too:
 * - controls (Cc: C0, DEL, C1), format characters (Cf: zero-width space and joiners, soft hyphen,
 *   bidi marks, embeddings, overrides and isolates, word joiner, invisible operators, BOM, tag
 *   characters), line and paragraph separators (Zl, Zp), private use (Co), unassigned (Cn) and
 *   lone surrogates (Cs);
 * - every default-ignorable code point, which terminals draw as nothing: Hangul fillers (U+115F,
 *   U+1160, U+3164, U+FFA0), variation selectors, the combining grapheme joiner, and the like;
 * - every whitespace character but the space (tabs, new lines, no-break and ideographic spaces),
 *   and U+2800 (a Braille cell with no dots, which shows as a blank).
 *
 * Kept as they are: letters, marks, digits, punctuation, symbols and the space of every script,
 * and whole emoji (RGI emoji: sequences joined by U+200D, flags of tag characters, keycaps, and
 * emoji with U+FE0F), whose joiners and selectors are part of one visible picture. The same
 * characters outside an emoji are escaped. Persian or Indic text with a zero-width (non-)joiner
 * therefore shows `\u200c` where the joiner was: a name that looks like another is the worse harm.
 */

const INVISIBLE_CLASS =
  '[[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Co}\\p{Cn}\\p{Cs}\\p{Default_Ignorable_Code_Point}' +
  '\\p{White_Space}\\u2800]--[\\x20]]'

// An emoji first (kept whole), else one character to escape. The `v` flag gives `\p{RGI_Emoji}`
// (a property of strings, matched longest first) and the class difference `--`. Built at run time:
// TypeScript rejects a `v` regex literal below an ES2024 target.
const EMOJI_OR_INVISIBLE = new RegExp(`(\\p{RGI_Emoji})|${INVISIBLE_CLASS}`, 'gv')
const EMOJI_OR_CHARACTER = new RegExp('\\p{RGI_Emoji}|.', 'gsv')

/** One character that `escapeInvisible` would escape (outside an emoji); for tests and checks. */
export const INVISIBLE = new RegExp(INVISIBLE_CLASS, 'v')

/**
 * Replaces each invisible, format or control character (see the header) with `escape(codePoint)`;
 * whole emoji and every other character are kept.
 */
export function escapeInvisible(text: string, escape: (codePoint: number) => string): string {
  return text.replace(EMOJI_OR_INVISIBLE, (match: string, emoji: string | undefined) =>
    emoji !== undefined ? match : escape(match.codePointAt(0) ?? 0),
  )
}

/** `\x1b` for a byte-sized code point, `\u200b` for the rest of the BMP, `\u{e0041}` above it. */
function terminalEscape(code: number): string {
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`
  return `\\u{${code.toString(16)}}`
}

/** Escapes control and invisible characters (`\x1b`, `\u202e`) and cuts to `maxLength` characters with an ellipsis. */
export function sanitizeForTerminal(text: string, maxLength = 200): string {
  const escaped = escapeInvisible(text, terminalEscape)
  if (maxLength <= 0) return ''
  if (codePoints(escaped) <= maxLength) return escaped
  // Cut between emoji, never inside one: half a joined emoji would leave a bare joiner behind.
  let kept = ''
  let length = 0
  for (const [unit] of escaped.matchAll(EMOJI_OR_CHARACTER)) {
    const size = codePoints(unit)
    if (length + size > maxLength - 1) break
    kept += unit
    length += size
  }
  return `${kept}…`
}

function codePoints(text: string): number {
  let count = 0
  for (const _ of text) count++
  return count
}
