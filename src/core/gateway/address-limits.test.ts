import { describe, expect, it } from 'vitest'

import { addressKey, FailureLimiter as WrongPinLimiter, WRONG_PINS_PER_MINUTE } from './address-limits.js'

const T0 = 1_700_000_000_000
const ADDRESS = '203.0.113.7'

/** Records `count` wrong PINs from `address`, one every `spacingMs` starting at `start`. */
function fail(limiter: WrongPinLimiter, count: number, start = T0, spacingMs = 1000, address = ADDRESS) {
  for (let i = 0; i < count; i++) limiter.record(address, start + i * spacingMs)
}

describe('WrongPinLimiter', () => {
  it('allows ten wrong PINs a minute', () => {
    expect(WRONG_PINS_PER_MINUTE).toBe(10)
    const limiter = new WrongPinLimiter()
    for (let i = 0; i < 10; i++) {
      expect(limiter.retryAfterSeconds(ADDRESS, T0 + i * 1000)).toBeUndefined()
      limiter.record(ADDRESS, T0 + i * 1000)
    }
  })

  it('tells the eleventh attempt to wait until the oldest failure leaves the minute', () => {
    const limiter = new WrongPinLimiter()
    fail(limiter, 10) // at T0, T0+1s, ..., T0+9s
    // The oldest failure (T0) leaves the window at T0+60s.
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 10_000)).toBe(50)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 30_000)).toBe(30)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 59_000)).toBe(1)
    // Part of a second left still means "wait 1 s", never 0.
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 59_900)).toBe(1)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 60_000)).toBeUndefined()
  })

  it('rounds a fractional wait up so a client that obeys Retry-After is let in', () => {
    const limiter = new WrongPinLimiter()
    fail(limiter, 10, T0, 0)
    const now = T0 + 10_250
    const wait = limiter.retryAfterSeconds(ADDRESS, now)
    expect(wait).toBe(50)
    expect(limiter.retryAfterSeconds(ADDRESS, now + wait! * 1000)).toBeUndefined()
  })

  it('after the wait, allows one more attempt per failure that left the window', () => {
    const limiter = new WrongPinLimiter()
    fail(limiter, 10)
    // At T0+60.5s only the failure at T0 has left: room for one more, then blocked again.
    const later = T0 + 60_500
    expect(limiter.retryAfterSeconds(ADDRESS, later)).toBeUndefined()
    limiter.record(ADDRESS, later)
    // Ten in the window again; the oldest is now T0+1s, gone at T0+61s.
    expect(limiter.retryAfterSeconds(ADDRESS, later)).toBe(1)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 61_000)).toBeUndefined()
  })

  it('counts failures past the limit, such as concurrent attempts, in the wait', () => {
    const limiter = new WrongPinLimiter()
    // Twelve wrong PINs recorded (two raced past the check): waiting until only the first has
    // left would still leave ten in the window, so the wait runs to when the third leaves.
    fail(limiter, 12)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 12_000)).toBe(50)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 61_000)).toBe(1)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 62_000)).toBeUndefined()
  })

  it('forgets failures older than a minute', () => {
    const limiter = new WrongPinLimiter()
    fail(limiter, 9, T0, 0)
    // Nine old failures plus one fresh one would be ten within 61 s, but not within a minute.
    limiter.record(ADDRESS, T0 + 61_000)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 61_000)).toBeUndefined()
    fail(limiter, 9, T0 + 61_000, 0)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 61_000)).toBe(60)
  })

  it('keeps each address separate', () => {
    const limiter = new WrongPinLimiter()
    fail(limiter, 10)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 10_000)).toBe(50)
    expect(limiter.retryAfterSeconds('198.51.100.1', T0 + 10_000)).toBeUndefined()
    expect(limiter.retryAfterSeconds('2001:db8::1', T0 + 10_000)).toBeUndefined()
    fail(limiter, 9, T0, 1000, '198.51.100.1')
    expect(limiter.retryAfterSeconds('198.51.100.1', T0 + 10_000)).toBeUndefined()
  })

  it('prune forgets addresses whose failures have expired, and only those', () => {
    const limiter = new WrongPinLimiter()
    fail(limiter, 10, T0, 0, 'old')
    fail(limiter, 10, T0 + 30_000, 0, 'recent')
    limiter.prune(T0 + 60_000)
    // 'old' starts from scratch: ten more attempts are allowed again.
    expect(limiter.retryAfterSeconds('old', T0 + 60_000)).toBeUndefined()
    fail(limiter, 9, T0 + 60_000, 0, 'old')
    expect(limiter.retryAfterSeconds('old', T0 + 60_000)).toBeUndefined()
    // 'recent' is still blocked until its failures leave the window.
    expect(limiter.retryAfterSeconds('recent', T0 + 60_000)).toBe(30)
  })

  it('prune does not forget a failure still inside the window', () => {
    const limiter = new WrongPinLimiter()
    fail(limiter, 10, T0, 0)
    limiter.prune(T0 + 59_999)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 59_999)).toBe(1)
  })

  it('honours a custom limit and window', () => {
    const limiter = new WrongPinLimiter(3, 10_000)
    fail(limiter, 3, T0, 0)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 2_000)).toBe(8)
    expect(limiter.retryAfterSeconds(ADDRESS, T0 + 10_000)).toBeUndefined()
  })
})

describe('addressKey', () => {
  it('counts IPv6 by its /64, IPv4 (mapped or not) by the address', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:db8:1:2:ffff:1:2:3'))
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'))
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7')
    expect(addressKey('203.0.113.7')).not.toBe(addressKey('203.0.113.8'))
  })

  it('makes one limit of a whole /64', () => {
    const limiter = new WrongPinLimiter(3, 60_000)
    for (let i = 1; i <= 3; i++) limiter.record(`2001:db8:0:7::${i}`, T0)
    expect(limiter.retryAfterSeconds('2001:db8:0:7::ffff', T0)).toBeGreaterThan(0)
    expect(limiter.retryAfterSeconds('2001:db8:0:8::1', T0)).toBeUndefined()
  })
})
