/**
 * Counts wrong PINs per address in a sliding minute, so guessing a live PIN (a million of them)
 * is slow: past the limit, every PIN attempt from that address gets HTTP 429 until the oldest
 * failure leaves the window.
 */
export const WRONG_PINS_PER_MINUTE = 10
const WINDOW_MS = 60_000

export class WrongPinLimiter {
  private readonly failures = new Map<string, number[]>()

  constructor(
    private readonly limit = WRONG_PINS_PER_MINUTE,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Seconds to wait before trying again, or undefined when the address may try. */
  retryAfterSeconds(address: string, now = Date.now()): number | undefined {
    const recent = this.recent(address, now)
    if (recent.length < this.limit) return undefined
    const oldest = recent[recent.length - this.limit] ?? now
    return Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000))
  }

  recordFailure(address: string, now = Date.now()): void {
    const recent = this.recent(address, now)
    recent.push(now)
    this.failures.set(address, recent)
  }

  /** Forgets addresses with no failure left in the window; the gateway calls it now and then. */
  prune(now = Date.now()): void {
    for (const address of [...this.failures.keys()]) this.recent(address, now)
  }

  private recent(address: string, now: number): number[] {
    const kept = (this.failures.get(address) ?? []).filter((at) => at > now - this.windowMs)
    if (kept.length === 0) this.failures.delete(address)
    else this.failures.set(address, kept)
    return kept
  }
}
