/**
 * Limits per client address for what anyone may try without an account: wrong PINs, wrong channel
 * links, end users joining, failed logins. Each is its own sliding-window count, so one kind of
 * mistake never blocks another (a wrong PIN does not stop a channel join). An IPv6 client counts
 * per /64, the block one customer is usually given, so cycling through its addresses buys nothing.
 */
import ipaddr from 'ipaddr.js'

export const WRONG_PINS_PER_MINUTE = 10
const WINDOW_MS = 60_000

/** The address a limit counts by: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function addressKey(address: string): string {
  try {
    const parsed = ipaddr.parse(address)
    if (parsed.kind() === 'ipv6') {
      const v6 = parsed as ipaddr.IPv6
      if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString()
      return `${v6.parts
        .slice(0, 4)
        .map((part) => part.toString(16))
        .join(':')}::/64`
    }
    return parsed.toString()
  } catch {
    return address
  }
}

/**
 * Counts events per address in a sliding window: past `limit`, `retryAfterSeconds` says how long
 * until the oldest counted event leaves the window.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>()

  constructor(
    private readonly limit = WRONG_PINS_PER_MINUTE,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Seconds to wait before trying again, or undefined when the address may try. */
  retryAfterSeconds(address: string, now = Date.now()): number | undefined {
    const recent = this.recent(addressKey(address), now)
    if (recent.length < this.limit) return undefined
    const oldest = recent[recent.length - this.limit] ?? now
    return Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000))
  }

  /** Counts one event (a failure, a join) from `address`. */
  record(address: string, now = Date.now()): void {
    const key = addressKey(address)
    const recent = this.recent(key, now)
    recent.push(now)
    // A flood cannot grow one address's list past what the decision needs.
    if (recent.length > this.limit * 2) recent.splice(0, recent.length - this.limit * 2)
    this.failures.set(key, recent)
  }

  /** Forgets addresses with no failure left in the window; the gateway calls it now and then. */
  prune(now = Date.now()): void {
    for (const key of [...this.failures.keys()]) this.recent(key, now)
  }

  private recent(key: string, now: number): number[] {
    const kept = (this.failures.get(key) ?? []).filter((at) => at > now - this.windowMs)
    if (kept.length === 0) this.failures.delete(key)
    else this.failures.set(key, kept)
    return kept
  }
}

/** The limits a gateway enforces per address and per group; tests and operators may change them. */
export interface AddressLimits {
  /** Wrong PINs a minute from one address before every PIN attempt from it waits. */
  wrongPinsPerMinute: number
  /** Wrong or revoked channel links a minute from one address. */
  wrongLinksPerMinute: number
  /** End users (PIN or channel) one address may bring in a minute. */
  joinsPerMinute: number
  /** End users from one address waiting in shared queues at once. */
  waitingPerAddress: number
  /** End users waiting in one group's shared queue at once. */
  waitingPerGroup: number
  /** Failed logins (any account) from one address in `loginWindowMs` before logins from it wait. */
  failedLogins: number
  loginWindowMs: number
}

export const DEFAULT_ADDRESS_LIMITS: AddressLimits = {
  wrongPinsPerMinute: WRONG_PINS_PER_MINUTE,
  wrongLinksPerMinute: 10,
  joinsPerMinute: 30,
  waitingPerAddress: 5,
  waitingPerGroup: 50,
  failedLogins: 20,
  loginWindowMs: 15 * 60 * 1000,
}
