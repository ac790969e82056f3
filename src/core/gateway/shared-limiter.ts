/**
 * The per-address failure limits that must hold whichever gateway a client reaches (wrong PINs,
 * wrong channel links, failed logins): the same sliding window as FailureLimiter, counted in the
 * store, so a guesser who spreads tries over many gateways of one database is slowed the same.
 */
import { addressKey } from './address-limits.js'
import type { Store } from '../store/index.js'

export class SharedFailureLimiter {
  constructor(
    private readonly store: Store,
    /** What is counted, e.g. `pin`: each kind has its own count. */
    private readonly kind: string,
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {}

  /** Seconds to wait before trying again, or undefined when the address may try. */
  async retryAfterSeconds(address: string, now = Date.now()): Promise<number | undefined> {
    const recent = await this.store.recentAddressFailures(
      this.kind,
      addressKey(address),
      now - this.windowMs,
      this.limit,
    )
    if (recent.length < this.limit) return undefined
    const oldest = recent[recent.length - 1] ?? now
    return Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000))
  }

  /** Counts one failure from `address`. */
  async record(address: string, now = Date.now()): Promise<void> {
    await this.store.recordAddressFailure(this.kind, addressKey(address), now)
  }

  /** Forgets failures that left the window; the gateway calls it now and then. */
  async prune(now = Date.now()): Promise<void> {
    await this.store.pruneAddressFailures(now - this.windowMs)
  }
}
