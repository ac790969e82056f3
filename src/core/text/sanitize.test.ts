import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { sanitizeForTerminal } from './sanitize.js'

// What must never reach a terminal: C0, DEL and C1 controls, and the bidi marks and overrides
// that make a terminal show text in another order than it is.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const codePoints = (text: string) => [...text].length

const unsafeChars = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCodePoint(i)),
  ...Array.from({ length: 0x21 }, (_, i) => String.fromCodePoint(0x7f + i)),
  '\u061c',
  '\u200e',
  '\u200f',
  '\u202a',
  '\u202b',
  '\u202c',
  '\u202d',
  '\u202e',
  '\u2066',
  '\u2067',
  '\u2068',
  '\u2069',
]

/** Text as a hostile peer might send it: any code points, dense in controls and astral characters. */
const hostileText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(...unsafeChars),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    fc.constantFrom('😀', '👩‍💻', '🇫🇷', '𝄞', 'é', '東'),
  ),
  maxLength: 300,
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

  it('property: output has no control or bidi character and at most maxLength code points', () => {
    fc.assert(
      fc.property(hostileText, fc.integer({ min: 1, max: 250 }), (text, maxLength) => {
        const out = sanitizeForTerminal(text, maxLength)
        expect(out).not.toMatch(UNSAFE)
        expect(codePoints(out)).toBeLessThanOrEqual(maxLength)
      }),
      { numRuns: 500 },
    )
  })

  it('property: well-formed text stays well-formed, and safe short text is unchanged', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.oneof(fc.constantFrom(...unsafeChars), fc.constantFrom('😀', '𝄞', 'é', 'x')) }),
        fc.integer({ min: 1, max: 40 }),
        (text, maxLength) => {
          const out = sanitizeForTerminal(text, maxLength)
          expect(out).not.toMatch(LONE_SURROGATE)
          if (!UNSAFE.test(text) && codePoints(text) <= maxLength) expect(out).toBe(text)
          if (codePoints(out) < maxLength) expect(out.endsWith('…')).toBe(false)
        },
      ),
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
