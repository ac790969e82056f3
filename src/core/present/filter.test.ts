import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PresentOutputFilter } from './filter.js'

const through = (...chunks: string[]) => {
  const filter = new PresentOutputFilter()
  return chunks.map((chunk) => filter.feed(Buffer.from(chunk, 'latin1')).toString('latin1')).join('')
}

describe("a presenting technician's output on the end user's terminal", () => {
  it('keeps text, colours, cursor moves and screen modes', () => {
    const drawing = '\u001b[2J\u001b[H\u001b[1;31mred\u001b[0m \u001b[?1049h\u001b[10;5Hx\r\n'
    expect(through(drawing)).toBe(drawing)
  })

  it('drops OSC 52 (the clipboard), OSC 8 links and titles, DCS and APC, even cut between chunks', () => {
    expect(through('a\u001b]52;c;ZWNobyBoaQ==\u0007b')).toBe('ab')
    expect(through('a\u001b]8;;https://evil.example\u001b\\link\u001b]8;;\u001b\\b')).toBe('alinkb')
    expect(through('a\u001b]0;ti', 'tle\u0007b')).toBe('ab')
    expect(through('a\u001b', ']52;c;eA==', '\u001b', '\\b')).toBe('ab')
    expect(through('a\u001bP+q544e\u001b\\b\u001b_apc\u001b\\c')).toBe('abc')
  })

  it('never lets an OSC 52 through, however the stream is cut', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.array(fc.nat(), { maxLength: 6 }), (before, after, cuts) => {
        const text = `${before.split('\u001b').join('')}\u001b]52;c;ZXZpbA==\u0007${after.split('\u001b').join('')}`
        const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b)
        const chunks: string[] = []
        let start = 0
        for (const point of [...points, text.length]) {
          chunks.push(text.slice(start, point))
          start = point
        }
        const shown = through(...chunks)
        expect(shown).not.toContain(']52')
        expect(shown).toContain(after.split('\u001b').join(''))
      }),
    )
  })
})
