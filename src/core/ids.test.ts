import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { base32, isPinForm, newId, newPin } from './ids.js'

const bytes = (text: string) => new TextEncoder().encode(text)

/** A plain bit-by-bit reference encoder, to compare against beyond the RFC vectors. */
function referenceBase32(data: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  const bits = [...data].map((byte) => byte.toString(2).padStart(8, '0')).join('')
  let out = ''
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)]
  return out
}

describe('base32', () => {
  it.each([
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'],
    ['foobar', 'mzxw6ytboi'],
  ])('encodes the RFC 4648 vector %j as %j (lower case, unpadded)', (input, expected) => {
    expect(base32(bytes(input))).toBe(expected)
  })

  it('encodes all-zero and all-one bytes at every length', () => {
    expect(base32(new Uint8Array(5))).toBe('aaaaaaaa')
    expect(base32(new Uint8Array(5).fill(0xff))).toBe('77777777')
    expect(base32(new Uint8Array(16).fill(0xff))).toBe(`${'7'.repeat(25)}4`)
  })

  it('property: matches a bit-by-bit reference encoder on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        expect(base32(data)).toBe(referenceBase32(data))
      }),
      { numRuns: 500 },
    )
  })
})

describe('newId', () => {
  it('is 26 characters of lower-case base32', () => {
    for (let i = 0; i < 200; i++) expect(newId()).toMatch(/^[a-z2-7]{26}$/)
  })

  it('never repeats over many calls', () => {
    const ids = new Set(Array.from({ length: 10_000 }, newId))
    expect(ids.size).toBe(10_000)
  })
})

describe('newPin', () => {
  it('is six decimal digits', () => {
    for (let i = 0; i < 1000; i++) expect(newPin()).toMatch(/^\d{6}$/)
  })

  it('keeps leading zeros, so every PIN has the same length', () => {
    // One PIN in ten starts with 0; over 20k draws some certainly do.
    const pins = Array.from({ length: 20_000 }, () => newPin())
    const leadingZero = pins.filter((pin) => pin.startsWith('0'))
    expect(leadingZero.length).toBeGreaterThan(0)
    for (const pin of leadingZero) expect(pin).toHaveLength(6)
  })

  it('honours another number of digits', () => {
    for (let i = 0; i < 200; i++) expect(newPin(4)).toMatch(/^\d{4}$/)
    for (let i = 0; i < 200; i++) expect(newPin(9)).toMatch(/^\d{9}$/)
  })

  it('draws the first digit roughly uniformly', () => {
    const draws = 20_000
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < draws; i++) counts[Number(newPin()[0])]! += 1
    // Expect 2000 per digit, standard deviation about 42; 1600..2400 is over 9 sigma away.
    for (const count of counts) {
      expect(count).toBeGreaterThan(1600)
      expect(count).toBeLessThan(2400)
    }
  })

  it('does not repeat often: 20k PINs hold nearly 20k distinct values', () => {
    // With a million PINs, about 200 collisions are expected among 20k draws; a broken generator
    // (a fixed seed, a few digits only) would give far fewer distinct values.
    const distinct = new Set(Array.from({ length: 20_000 }, () => newPin())).size
    expect(distinct).toBeGreaterThan(19_000)
  })
})

describe('isPinForm', () => {
  it('accepts exactly 6 ASCII digits, and every PIN newPin makes', () => {
    expect(isPinForm('012345')).toBe(true)
    for (let i = 0; i < 100; i++) expect(isPinForm(newPin())).toBe(true)
    for (const text of [
      '',
      '12345',
      '1234567',
      '12 345',
      '12a456',
      ' 123456',
      '123456\n',
      '١٢٣٤٥٦',
      '12345６',
    ])
      expect(isPinForm(text)).toBe(false)
  })
})
