/**
 * The security words' gate. A gateway that pairs with each side separately gets different words
 * on the two screens; only a person comparing them notices. So on an attended host the end user
 * confirms that the words their technician reads them match, and until they do, no consent
 * request is shown, granted or answered: each one waits at this gate (its deadline starts only
 * when it is shown). A "no", or no answer in time, ends the session. Unattended hosts (no one to
 * ask) pass the gate at once, as `unchecked`: whoever starts them decides that (HostOptions).
 * Imports core only.
 */
import { ConsentBroker, type ConsentBrokerOptions, type ConsentOutcome } from '../consent/index.js'

/** What the host tells the technician about the words: confirmed by the end user, or never asked. */
export type WordsOutcome = 'confirmed' | 'unchecked' | 'rejected'

export class WordsGate {
  /** Settles once: `confirmed` or `unchecked` let requests through, `rejected` denies them all. */
  readonly outcome: Promise<WordsOutcome>
  private settle!: (outcome: WordsOutcome) => void
  private settled = false

  constructor(required: boolean) {
    this.outcome = new Promise((resolve) => (this.settle = resolve))
    if (!required) this.finish('unchecked')
  }

  /** True while the end user has not answered. */
  get pending(): boolean {
    return !this.settled
  }

  /** The end user said the words match; false when the gate had already settled. */
  confirm(): boolean {
    return this.finish('confirmed')
  }

  /** The words differ, nobody answered, or the session is over: every waiting request is denied. */
  reject(): boolean {
    return this.finish('rejected')
  }

  private finish(outcome: WordsOutcome): boolean {
    if (this.settled) return false
    this.settled = true
    this.settle(outcome)
    return true
  }
}

/**
 * The consent broker behind the gate: a request (a single prompt too, which asks through
 * `decide`) is made, shown and timed only once the gate lets it through; behind a closed gate it
 * is denied unseen.
 */
export class GatedConsentBroker extends ConsentBroker {
  constructor(
    options: ConsentBrokerOptions,
    private readonly gate: WordsGate,
  ) {
    super(options)
  }

  // Every way of asking (request, the single prompt) goes through decide: gating it gates them all.
  override async decide(...args: Parameters<ConsentBroker['decide']>): Promise<ConsentOutcome> {
    if ((await this.gate.outcome) === 'rejected') {
      return { allowed: false, decision: 'deny', by: 'ended', permission: args[0] }
    }
    return super.decide(...args)
  }
}
