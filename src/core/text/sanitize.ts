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
 * and whole emoji (EMOJI below: pictographs joined by U+200D, with U+FE0F or a skin tone, flags,
 * keycaps), whose joiners and selectors are part of one visible picture. The same characters
 * outside an emoji are escaped. Persian or Indic text with a zero-width (non-)joiner
 * therefore shows `\u200c` where the joiner was: a name that looks like another is the worse harm.
 */

const INVISIBLE_CLASS =
  '[[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Co}\\p{Cn}\\p{Cs}\\p{Default_Ignorable_Code_Point}' +
  '\\p{White_Space}\\u2800]--[\\x20]]'

/**
 * One emoji, with the invisible characters that are part of it: pictographs (each with a skin
 * tone or U+FE0F) joined by U+200D, flag pairs, keycaps, and the three subdivision flags made of
 * tag characters (England, Scotland, Wales), the only ones in Unicode's recommended set. Other
 * tag sequences hide ASCII text, so they are escaped. Written out rather than `\p{RGI_Emoji}`,
 * which V8 matches some 20 times slower (about 50 µs an emoji); it also keeps joined pictographs
 * that no vendor draws as one, which hides nothing.
 */
const SUBDIVISION_FLAG =
  '\\u{1F3F4}\\u{E0067}\\u{E0062}(?:\\u{E0065}\\u{E006E}\\u{E0067}|\\u{E0073}\\u{E0063}\\u{E0074}|\\u{E0077}\\u{E006C}\\u{E0073})\\u{E007F}'
/** A pictograph (with a skin tone or U+FE0F) or a flag pair: what U+200D may join. */
const JOINABLE = '(?:\\p{RI}\\p{RI}|[[\\p{Extended_Pictographic}\\p{EMod}]--\\p{Cn}](?:\\p{EMod}|\\uFE0F)?)'
const EMOJI = `(?:${SUBDIVISION_FLAG}|[#*0-9]\\uFE0F\\u20E3|${JOINABLE}(?:\\u200D${JOINABLE})*)`

// An emoji first (kept whole), else one character to escape. The `v` flag gives class
// differences (`--`); the patterns are built at run time because TypeScript rejects a `v` regex
// literal below an ES2024 target.
const EMOJI_OR_INVISIBLE = new RegExp(`(${EMOJI})|${INVISIBLE_CLASS}`, 'gv')
const EMOJI_OR_CHARACTER = new RegExp(`${EMOJI}|.`, 'gsv')

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
  if (maxLength <= 0) return ''
  // Escapes only lengthen text: what lies past maxLength (and past the longest emoji, 10 code
  // points, that could straddle it) is never shown, so a huge hostile text costs no more than a short one.
  const escaped = escapeInvisible(firstCodePoints(text, maxLength + 16), terminalEscape)
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

/** The first `count` code points of `text` (all of it when shorter). */
function firstCodePoints(text: string, count: number): string {
  if (text.length <= count) return text
  let index = 0
  for (let seen = 0; seen < count && index < text.length; seen++) {
    const code = text.charCodeAt(index)
    const pair = code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00
    index += pair ? 2 : 1
  }
  return text.slice(0, index)
}

function codePoints(text: string): number {
  let count = 0
  for (const _ of text) count++
  return count
}
