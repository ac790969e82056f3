import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { INVISIBLE, sanitizeForTerminal } from './sanitize.js'

// What must never reach a terminal: controls, format characters (zero-width, bidi, tags, soft
// hyphen), separators, private-use, unassigned and lone surrogates, whitespace but the space, and
// what draws as nothing (Hangul fillers, variation selectors, the blank Braille cell). Written out
// here by hand and by property, independently of the sanitizer's own pattern.
const UNSAFE = new RegExp(
  // Lone joiners and selectors are exactly what this class is for, not a mistake.
  // eslint-disable-next-line no-misleading-character-class
  '[[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Co}\\p{Cn}\\p{Cs}\\p{White_Space}\\p{Default_Ignorable_Code_Point}' +
    '\\u00ad\\u061c\\u115f\\u1160\\u200b-\\u200f\\u202a-\\u202e\\u2028\\u2029\\u2060-\\u2064' +
    '\\u2066-\\u2069\\u2800\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\u{e0000}-\\u{e007f}\\u{e0100}-\\u{e01ef}]--[\\x20]]',
  'v',
)
/**
 * What is left once the parts of emoji are taken out, by rules written independently of the
 * sanitizer: the three subdivision flags whole, U+FE0F after a pictograph or in a keycap, and
 * U+200D between two pictographs. Any other invisible character must have been escaped.
 */
const SUBDIVISION_FLAGS = ['🏴󠁧󠁢󠁥󠁮󠁧󠁿', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '🏴󠁧󠁢󠁷󠁬󠁳󠁿']
const PICTOGRAPH = '[\\p{Extended_Pictographic}\\p{Emoji_Modifier}\\p{Regional_Indicator}]'
const SELECTOR_IN_EMOJI = new RegExp(
  `(?<=[\\p{Extended_Pictographic}\\p{Emoji_Modifier}])\\uFE0F|(?<=[#*0-9])\\uFE0F(?=\\u20E3)`,
  'gv',
)
const JOINER_IN_EMOJI = new RegExp(`(?<=${PICTOGRAPH})\\u200D(?=${PICTOGRAPH})`, 'gv')
function unsafeOutsideEmoji(text: string): boolean {
  let rest = text
  for (const flag of SUBDIVISION_FLAGS) rest = rest.replaceAll(flag, '🏴')
  rest = rest.replace(SELECTOR_IN_EMOJI, '').replace(JOINER_IN_EMOJI, '')
  return UNSAFE.test(rest)
}
/** Stricter: only Unicode's recommended emoji count, for text that must come out unchanged. */
const RGI_EMOJI = new RegExp('\\p{RGI_Emoji}', 'gv')
const unsafeOutsideRgiEmoji = (text: string) => UNSAFE.test(text.replace(RGI_EMOJI, ''))
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const codePoints = (text: string) => [...text].length

const unsafeChars = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCodePoint(i)),
  ...Array.from({ length: 0x21 }, (_, i) => String.fromCodePoint(0x7f + i)),
  ...'\u00a0\u00ad\u034f\u061c\u115f\u1160\u180e\u2000\u200a\u200b\u200c\u200d\u200e\u200f',
  ...'\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u202f\u205f\u2060\u2061\u2062\u2063\u2064',
  ...'\u2066\u2067\u2068\u2069\u2800\u3000\u3164\ufe0e\ufe0f\ufeff\uffa0\ue000\ufff9\uffff',
  '\u{e0001}',
  '\u{e0041}',
  '\u{e007f}',
  '\u{e0100}',
  '\u{f0000}',
  '\u{10ffff}',
]

/** Pieces of emoji, so that joiners, selectors and tags also come next to what they join. */
const emojiParts = ['😀', '👩', '💻', '👩‍💻', '🇫🇷', '🇫', '🏴', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '❤️', '❤', '1️⃣', '𝄞', 'é', '東']

/** Text as a hostile peer might send it: any code points, dense in controls, invisibles and emoji. */
const hostileText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(...unsafeChars),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    fc.constantFrom(...emojiParts),
  ),
  maxLength: 300,
})

/** One printable character: a letter, mark, digit, punctuation or symbol of any script, or the space. */
const PRINTABLE = new RegExp(
  '^[[\\p{L}\\p{M}\\p{N}\\p{P}\\p{S}\\x20]--[\\p{Default_Ignorable_Code_Point}\\u2800]]$',
  'v',
)
const printableText = fc.string({
  unit: fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((char) => PRINTABLE.test(char)),
    fc.constantFrom(' ', 'a', 'Z', '7', '~', 'ß', 'ج', 'क', '\u0301', '東', '한'),
    fc.constantFrom('😀', '👩‍💻', '🇫🇷', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '❤️', '1️⃣', '👍🏽', '🧑🏿‍🚀'),
  ),
  maxLength: 100,
})

describe('sanitizeForTerminal', () => {
  it('shows an OSC title-setting sequence escaped', () => {
    expect(sanitizeForTerminal('\x1b]0;pwned\x07')).toBe('\\x1b]0;pwned\\x07')
  })

  it('shows a clear-screen CSI sequence escaped', () => {
    expect(sanitizeForTerminal('\x1b[2Jhello')).toBe('\\x1b[2Jhello')
  })

  it('escapes C1 controls, such as the single-byte CSI, and DEL', () => {
    expect(sanitizeForTerminal('\x9b31mred')).toBe('\\x9b31mred')
    expect(sanitizeForTerminal('\x85next\x9d')).toBe('\\x85next\\x9d')
    expect(sanitizeForTerminal('a\x7fb')).toBe('a\\x7fb')
  })

  it('escapes new lines and carriage returns, so one field cannot fake another line', () => {
    expect(sanitizeForTerminal('alice\nconnected to bank.example\r')).toBe(
      'alice\\x0aconnected to bank.example\\x0d',
    )
  })

  it('escapes bidi overrides that would disguise a name', () => {
    expect(sanitizeForTerminal('invoice\u202Efdp.exe')).toBe('invoice\\u202efdp.exe')
    expect(sanitizeForTerminal('\u2066a\u2069\u200f\u061c')).toBe('\\u2066a\\u2069\\u200f\\u061c')
  })

  it.each([
    ['zero-width space', 'pay\u200bpal', 'pay\\u200bpal'],
    ['zero-width non-joiner and joiner between letters', 'a\u200cb\u200dc', 'a\\u200cb\\u200dc'],
    [
      'word joiner and invisible operators',
      '\u2060\u2061\u2062\u2063\u2064',
      '\\u2060\\u2061\\u2062\\u2063\\u2064',
    ],
    ['byte order mark', '\ufeffroot', '\\ufeffroot'],
    ['line and paragraph separators', 'ok\u2028rm -rf ~\u2029', 'ok\\u2028rm -rf ~\\u2029'],
    ['soft hyphen', 'ad\u00admin', 'ad\\xadmin'],
    [
      'Unicode tag characters (hidden ASCII)',
      'hi\u{e0069}\u{e0067}\u{e006e}',
      'hi\\u{e0069}\\u{e0067}\\u{e006e}',
    ],
    ['Hangul fillers', '\u3164\u115f\u1160\uffa0', '\\u3164\\u115f\\u1160\\uffa0'],
    [
      'bidi embeddings and isolates',
      '\u202a\u202b\u202c\u202d\u2066\u2067\u2068',
      '\\u202a\\u202b\\u202c\\u202d\\u2066\\u2067\\u2068',
    ],
    ['variation selectors outside an emoji', 'a\ufe0f\u{e0100}', 'a\\ufe0f\\u{e0100}'],
    [
      'whitespace other than the space',
      'a\tb\u00a0c\u2003d\u3000e\u2800',
      'a\\x09b\\xa0c\\u2003d\\u3000e\\u2800',
    ],
    ['private use, unassigned and lone surrogates', '\ue000\u{10ffff}\ud800x', '\\ue000\\u{10ffff}\\ud800x'],
  ])('escapes %s', (_what, text, shown) => {
    expect(sanitizeForTerminal(text)).toBe(shown)
    expect(INVISIBLE.test(sanitizeForTerminal(text))).toBe(false)
  })

  it('keeps whole emoji, with their joiners, selectors and tags, and escapes the same characters alone', () => {
    const emoji = '👩‍💻 🧑🏿‍🚀 ❤️ 1️⃣ 🏴󠁧󠁢󠁳󠁣󠁴󠁿 🇫🇷'
    expect(sanitizeForTerminal(emoji)).toBe(emoji)
    // A tag after a whole flag is not part of it.
    expect(sanitizeForTerminal('🇫🇷\u{e0041}')).toBe('🇫🇷\\u{e0041}')
    expect(sanitizeForTerminal('\u200d💻')).toBe('\\u200d💻')
  })

  it('keeps recommended emoji of every kind whole', () => {
    const emoji = ['🏳️‍🌈', '🏴‍☠️', '❤️‍🔥', '👨‍👩‍👧‍👦', '🧑🏻‍❤️‍💋‍🧑🏼', '#️⃣', '👍🏽', '🫱🏻‍🫲🏿', '🐻‍❄️', '😶‍🌫️', '🧔‍♂️', '©️', '👁️‍🗨️', '🏴󠁧󠁢󠁥󠁮󠁧󠁿', '🏴󠁧󠁢󠁷󠁬󠁳󠁿']
    for (const text of emoji) expect(sanitizeForTerminal(text)).toBe(text)
  })

  it('escapes text hidden in tag characters after an emoji, and joiners between digits', () => {
    // "rm" in tags after a smiley: invisible on screen, read by a program.
    expect(sanitizeForTerminal('😀\u{e0072}\u{e006d}\u{e007f}')).toBe('😀\\u{e0072}\\u{e006d}\\u{e007f}')
    expect(sanitizeForTerminal('🏴\u{e0067}\u{e0062}\u{e0078}\u{e0078}\u{e0078}\u{e007f}')).toBe(
      '🏴\\u{e0067}\\u{e0062}\\u{e0078}\\u{e0078}\\u{e0078}\\u{e007f}',
    )
    expect(sanitizeForTerminal('kill 1\u200d234')).toBe('kill 1\\u200d234')
    expect(sanitizeForTerminal('1\ufe0f')).toBe('1\\ufe0f')
  })

  it('cuts before an emoji that does not fit, never between its parts', () => {
    expect(sanitizeForTerminal('ab👩‍💻cd', 5)).toBe('ab…')
    expect(sanitizeForTerminal('ab👩‍💻cd', 6)).toBe('ab👩‍💻…')
  })

  it('keeps ordinary Unicode as it is', () => {
    for (const text of [
      'Zoë Ñúñez-Øvergård',
      '東京都 渋谷区',
      'Ελληνικά и русский',
      'עברית ومرحبا',
      'technician 👩‍💻 🇫🇷 😀',
      '𝄞 music',
      'tab-free plain ASCII ~!@#$%^&*()',
    ]) {
      expect(sanitizeForTerminal(text)).toBe(text)
    }
  })

  it('leaves text of exactly the maximum length alone', () => {
    const text = 'a'.repeat(200)
    expect(sanitizeForTerminal(text)).toBe(text)
    expect(sanitizeForTerminal('😀'.repeat(10), 10)).toBe('😀'.repeat(10))
  })

  it('cuts longer text to the maximum length, ending with an ellipsis', () => {
    const out = sanitizeForTerminal('a'.repeat(201))
    expect(out).toBe(`${'a'.repeat(199)}…`)
    expect(sanitizeForTerminal('abcdefghij', 5)).toBe('abcd…')
  })

  it('never cuts an emoji in half', () => {
    expect(sanitizeForTerminal('😀'.repeat(10), 5)).toBe('😀😀😀😀…')
    expect(sanitizeForTerminal(`a${'𝄞'.repeat(10)}`, 4)).toBe('a𝄞𝄞…')
  })

  it('counts escapes towards the length, so controls cannot make the output long', () => {
    const out = sanitizeForTerminal('\x1b'.repeat(1000), 50)
    expect(codePoints(out)).toBe(50)
    expect(out.endsWith('…')).toBe(true)
    expect(out.startsWith('\\x1b\\x1b')).toBe(true)
  })

  it('property: output has no control, bidi or invisible character outside an emoji, and at most maxLength code points', () => {
    fc.assert(
      fc.property(hostileText, fc.integer({ min: 1, max: 250 }), (text, maxLength) => {
        const out = sanitizeForTerminal(text, maxLength)
        expect(unsafeOutsideEmoji(out)).toBe(false)
        expect(codePoints(out)).toBeLessThanOrEqual(maxLength)
      }),
      { numRuns: 500 },
    )
  })

  it('property: well-formed text stays well-formed, and safe short text is unchanged', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.oneof(fc.constantFrom(...unsafeChars), fc.constantFrom(...emojiParts, 'x')) }),
        fc.integer({ min: 1, max: 40 }),
        (text, maxLength) => {
          const out = sanitizeForTerminal(text, maxLength)
          expect(out).not.toMatch(LONE_SURROGATE)
          if (!unsafeOutsideRgiEmoji(text) && codePoints(text) <= maxLength) expect(out).toBe(text)
          // Cut only when needed, and short of the bound by less than one emoji (10 code points at most).
          if (out.endsWith('…')) expect(codePoints(out)).toBeGreaterThan(maxLength - 10)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('property: printable text of any script, with whole emoji, is unchanged', () => {
    fc.assert(
      fc.property(printableText, (text) => {
        expect(sanitizeForTerminal(text, 1000)).toBe(text)
      }),
      { numRuns: 500 },
    )
  })

  it('property: the default bound is 200 code points', () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        expect(codePoints(sanitizeForTerminal(text))).toBeLessThanOrEqual(200)
      }),
    )
  })
})
