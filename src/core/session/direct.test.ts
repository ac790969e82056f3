import { describe, expect, it } from 'vitest'
import { hostOffers, offerToDial } from './direct.js'

describe('whether a session tries the direct link', () => {
  it('is tried when one side asks and neither side nor the gateway refuses', () => {
    expect(hostOffers('ask', 'allow', true)).toBe(true)
    expect(hostOffers('allow', 'ask', true)).toBe(true)
    expect(hostOffers('allow', 'allow', true)).toBe(false)
    expect(hostOffers('refuse', 'ask', true)).toBe(false)
    expect(hostOffers('ask', undefined, true)).toBe(false) // a technician that refused, or an older rescue
    expect(hostOffers('ask', 'ask', false)).toBe(false)
    expect(hostOffers('ask', { evil: true }, true)).toBe(false)
  })

  it('dials only a well-formed offer, and none when it refused or the gateway did', () => {
    const offer = {
      candidates: [
        { address: '192.0.2.7', port: 40000 },
        { address: '::1', port: 40000 },
      ],
    }
    expect(offerToDial('allow', true, offer)).toEqual(offer.candidates)
    expect(offerToDial('refuse', true, offer)).toBeUndefined()
    expect(offerToDial('ask', false, offer)).toBeUndefined()
    expect(offerToDial('ask', true, undefined)).toBeUndefined()
    // Host names (a DNS lookup the peer chose), ports out of range, too many: not dialled.
    expect(offerToDial('ask', true, { candidates: [{ address: 'evil.example', port: 22 }] })).toBeUndefined()
    expect(offerToDial('ask', true, { candidates: [{ address: '192.0.2.7', port: 0 }] })).toBeUndefined()
    const many = Array.from({ length: 17 }, () => ({ address: '192.0.2.7', port: 1 }))
    expect(offerToDial('ask', true, { candidates: many })).toBeUndefined()
  })
})
