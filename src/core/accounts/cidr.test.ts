import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { UserError } from '../errors.js'
import { addressInBlocks, parseCidrList } from './cidr.js'

describe('CIDR allow-lists', () => {
  it('normalises blocks: bare addresses become /32 or /128, hosts bits are cleared, duplicates go', () => {
    expect(parseCidrList(' 10.1.2.3/8, 127.0.0.1 ,2001:db8::1/32, 10.0.0.0/8,')).toEqual([
      '10.0.0.0/8',
      '127.0.0.1/32',
      '2001:db8::/32',
    ])
    expect(parseCidrList('')).toEqual([])
  })

  it.each([
    '10.0.0.0/33',
    '300.1.1.1',
    '10.1/8',
    '0x0a.0.0.0/8',
    'example.com',
    '10.0.0.0/',
    '::1/129',
    '1.2.3.4/-1',
    '*',
  ])('refuses %j with a usage error', (block) => {
    expect(() => parseCidrList(block)).toThrow(UserError)
  })

  it('matches IPv4, IPv6, and IPv4 arriving as IPv4-mapped IPv6', () => {
    expect(addressInBlocks('127.0.0.1', ['127.0.0.1/32'])).toBe(true)
    expect(addressInBlocks('127.0.0.2', ['127.0.0.1/32'])).toBe(false)
    expect(addressInBlocks('::ffff:127.0.0.1', ['127.0.0.1/32'])).toBe(true)
    expect(addressInBlocks('::ffff:127.0.0.2', ['127.0.0.1/32'])).toBe(false)
    expect(addressInBlocks('10.200.3.4', ['10.0.0.0/8'])).toBe(true)
    expect(addressInBlocks('11.0.0.1', ['10.0.0.0/8'])).toBe(false)
    expect(addressInBlocks('2001:db8::5', ['2001:db8::/32'])).toBe(true)
    expect(addressInBlocks('2001:db9::5', ['2001:db8::/32'])).toBe(false)
    expect(addressInBlocks('::1', ['127.0.0.1/32'])).toBe(false)
  })

  it('never matches an address it cannot read', () => {
    for (const address of [undefined, '', 'localhost', '010.0.0.1x', '1.2.3', '0x7f.0.0.1', '2130706433']) {
      expect(addressInBlocks(address, ['0.0.0.0/0'])).toBe(false)
    }
  })

  it('property: an IPv4 address is in a /n block exactly when its first n bits agree', () => {
    const octets = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255))
    fc.assert(
      fc.property(octets, octets, fc.integer({ min: 0, max: 32 }), (a, b, bits) => {
        const value = (o: number[]) => o.reduce((acc, x) => acc * 256 + x, 0)
        const mask =
          bits === 0 ? 0 : Math.floor(value(a) / 2 ** (32 - bits)) === Math.floor(value(b) / 2 ** (32 - bits))
        const [block] = parseCidrList(`${b.join('.')}/${bits}`)
        expect(addressInBlocks(a.join('.'), [block!])).toBe(bits === 0 ? true : mask)
      }),
    )
  })
})
