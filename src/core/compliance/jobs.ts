/**
 * The gateway's own compliance work, on a timer: delivering queued webhook summaries and purging
 * what is older than the retention period. The clock is injected (`now`) so tests can move it;
 * every tick reads the store afresh, so many gateways on one PostgreSQL may all run it.
 */
import type { LogCipher } from '../gateway/log-cipher.js'
import type { Store } from '../store/index.js'
import { SESSION_ARTEFACTS, type SessionArtefacts } from './artefacts.js'
import { purgeExpired } from './retention.js'
import { deliverDue, enqueueSessionSummary, type WebhookTiming } from './webhook.js'

export interface ComplianceJobOptions {
  store: Store
  cipher: LogCipher
  /** The clock (Date.now when absent). */
  now?: () => number
  /** How often queued deliveries are looked at (5 s). */
  tickMs?: number
  /** How often the retention purge runs, by the injected clock (1 h). */
  purgeEveryMs?: number
  webhook?: Partial<WebhookTiming>
  artefacts?: readonly SessionArtefacts[]
  onLog?: (line: string) => void
}

export class ComplianceJobs {
  private timer?: NodeJS.Timeout
  private running?: Promise<void>
  private lastPurge = Number.NEGATIVE_INFINITY
  /** Summaries being queued, so that stopping waits for them before the store closes. */
  private readonly queueing = new Set<Promise<unknown>>()
  private readonly now: () => number

  constructor(private readonly options: ComplianceJobOptions) {
    this.now = options.now ?? Date.now
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.tickMs ?? 5000)
    this.timer.unref()
    void this.tick()
  }

  /** Stops the timer and waits for a tick under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await Promise.allSettled([...this.queueing])
    await this.running
  }

  /** One round of work; a round still running is waited for, never doubled. */
  tick(): Promise<void> {
    this.running ??= this.round().finally(() => (this.running = undefined))
    return this.running
  }

  /** A session ended: queue its summary for the webhook, and try to send it at once. */
  sessionEnded(sessionId: string): void {
    const queued = enqueueSessionSummary(this.context(), sessionId, new Date(this.now()))
      .then((made) => {
        if (made && this.timer) void this.tick()
      })
      .catch((error: unknown) =>
        this.options.onLog?.(`webhook: could not queue session ${sessionId}: ${String(error)}`),
      )
      .finally(() => this.queueing.delete(queued))
    this.queueing.add(queued)
  }

  private context() {
    return {
      store: this.options.store,
      cipher: this.options.cipher,
      artefacts: this.options.artefacts ?? SESSION_ARTEFACTS,
      ...(this.options.webhook ? { timing: this.options.webhook } : {}),
      ...(this.options.onLog ? { onLog: this.options.onLog } : {}),
    }
  }

  private async round(): Promise<void> {
    const now = this.now()
    try {
      if (now - this.lastPurge >= (this.options.purgeEveryMs ?? 3_600_000)) {
        this.lastPurge = now
        const result = await purgeExpired(
          this.options.store,
          new Date(now),
          this.options.artefacts ?? SESSION_ARTEFACTS,
        )
        if (result.sessions > 0)
          this.options.onLog?.(`retention: purged ${result.sessions} sessions older than ${result.cutoff}`)
      }
      await deliverDue(this.context(), new Date(now))
    } catch (error) {
      this.options.onLog?.(`compliance job failed: ${String(error)}`)
    }
  }
}
