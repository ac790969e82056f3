import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toJsonLine } from './json-line.js'
import { INVISIBLE } from './sanitize.js'

describe('JSON lines for a terminal', () => {
  it('escapes C1 controls and bidi overrides that JSON.stringify leaves raw', () => {
    const line = toJsonLine({ name: 'a\u009b2Jb\u202egnp.exe' })
    expect(line).toBe('{"name":"a\\u009b2Jb\\u202egnp.exe"}')
    expect(line).not.toMatch(/[\u0080-\u009f\u202e]/)
  })

  it('escapes zero-width, separator, soft-hyphen, tag and filler characters, and keeps whole emoji', () => {
    const value = { name: 'a\u200bb\u2028c\u00add\u{e0041}e\u3164 👩‍💻' }
    const line = toJsonLine(value)
    expect(line).toBe('{"name":"a\\u200bb\\u2028c\\u00add\\udb40\\udc41e\\u3164 👩‍💻"}')
    expect(JSON.parse(line)).toEqual(value)
  })

  it('property: no invisible character outside an emoji, whatever the strings hold', () => {
    const emoji = new RegExp('\\p{RGI_Emoji}', 'gv')
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: 'binary' }), (value) => {
        const line = toJsonLine(value)
        expect(line.replace(emoji, '')).not.toMatch(INVISIBLE)
        expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(value)))
      }),
    )
  })

  it('property: parses back to what JSON.stringify would have given', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        // Against JSON's own round trip, not `value`: JSON has no -0, so -0 comes back as 0.
        expect(JSON.parse(toJsonLine(value))).toEqual(JSON.parse(JSON.stringify(value)))
        expect(toJsonLine(value)).not.toContain('\n')
      }),
    )
  })
})
