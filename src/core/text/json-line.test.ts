import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toJsonLine } from './json-line.js'

describe('JSON lines for a terminal', () => {
  it('escapes C1 controls and bidi overrides that JSON.stringify leaves raw', () => {
    const line = toJsonLine({ name: 'a\u009b2Jb\u202egnp.exe' })
    expect(line).toBe('{"name":"a\\u009b2Jb\\u202egnp.exe"}')
    expect(line).not.toMatch(/[\u0080-\u009f\u202e]/)
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
