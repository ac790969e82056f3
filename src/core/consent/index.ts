/**
 * The consent broker: the host's one gate between what a technician asks and what runs. Every
 * request becomes a typed, sanitized ConsentRequest and waits for a decision that only the end
 * user's own terminal can give (through `answer`). It fails closed: no answer before the deadline,
 * no terminal to ask on, or a session that has ended means deny. Imports core only.
 */
import { newId } from '../ids.js'
import type { HostActivity } from '../host/events.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import type { ConsentRequest, ConsentResult, DecidedBy, Decision, Permission } from './types.js'

export * from './types.js'

export const DEFAULT_CONSENT_TIMEOUT_MS = 60_000
/**
 * Longest command line or path a prompt shows. The host refuses longer ones unasked (see
 * MAX_DETAIL_LENGTH users): the end user must see all of what they allow, not a cut version.
 */
export const MAX_DETAIL_LENGTH = 2000
const MAX_SUMMARY = 500

export interface ConsentBrokerOptions {
  /** Who asks, as the gateway vouched for it. */
  technician: string
  /** True when an end user sits at a terminal that can answer prompts. */
  interactive: boolean
  /** Permissions granted up front by `rescue host --auto-approve`. */
  autoApprove?: readonly Permission[]
  timeoutMs?: number
  /** Receives consent-request and consent-decision, for the view, the JSON stream and the audit log. */
  onActivity(activity: HostActivity): void
}

interface Pending {
  request: ConsentRequest
  timer: NodeJS.Timeout
  settle(decision: Decision, by: DecidedBy): void
}

export class ConsentBroker {
  private readonly grants = new Set<Permission>()
  private readonly autoApprove: ReadonlySet<Permission>
  private readonly pending = new Map<string, Pending>()
  private ended = false

  constructor(private readonly options: ConsentBrokerOptions) {
    this.autoApprove = new Set(options.autoApprove ?? [])
  }

  /**
   * Asks for `permission`; resolves true only when it is allowed. `summary` and `detail` may hold
   * anything the technician sent: they are sanitized here, before anyone sees them.
   */
  request(
    permission: Permission,
    summary: string,
    detail?: string,
    withdrawn?: AbortSignal,
  ): Promise<boolean> {
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_CONSENT_TIMEOUT_MS
    const request: ConsentRequest = {
      id: newId(),
      permission,
      summary: sanitizeForTerminal(summary, MAX_SUMMARY),
      ...(detail !== undefined ? { detail: sanitizeForTerminal(detail, MAX_DETAIL_LENGTH) } : {}),
      technician: sanitizeForTerminal(this.options.technician, 200),
      deadline: new Date(Date.now() + timeoutMs).toISOString(),
    }
    this.options.onActivity({ event: 'consent-request', ...request })
    const immediate = withdrawn?.aborted
      ? { decision: 'deny' as const, by: 'withdrawn' as const }
      : this.decideWithoutAsking(permission)
    if (immediate) return Promise.resolve(this.record(request, immediate.decision, immediate.by))

    return new Promise((resolve) => {
      const settle = (decision: Decision, by: DecidedBy) => {
        if (!this.pending.delete(request.id)) return
        clearTimeout(timer)
        if (decision === 'session') this.grants.add(permission)
        resolve(this.record(request, decision, by))
      }
      const timer = setTimeout(() => settle('deny', 'timeout'), timeoutMs)
      this.pending.set(request.id, { request, timer, settle })
      withdrawn?.addEventListener('abort', () => settle('deny', 'withdrawn'), { once: true })
    })
  }

  /** The end user's answer to a prompt; an unknown or already settled id is ignored. */
  answer(id: string, decision: Decision): void {
    this.pending.get(id)?.settle(decision, 'end-user')
  }

  /** Refuses, without asking, a request that has no prompt (the default for anything unknown). */
  refuse(what: string): void {
    this.options.onActivity({ event: 'refused', request: sanitizeForTerminal(what, MAX_SUMMARY) })
  }

  /** Forgets every grant made for the session and denies whatever is waiting. */
  revoke(): void {
    this.grants.clear()
    for (const pending of [...this.pending.values()]) pending.settle('deny', 'ended')
  }

  /** The session is over: deny what waits and everything after. */
  end(): void {
    this.ended = true
    this.revoke()
  }

  /** Permissions granted for the rest of the session, by the end user or up front. */
  get granted(): Permission[] {
    return [...new Set([...this.autoApprove, ...this.grants])].sort()
  }

  private decideWithoutAsking(permission: Permission): { decision: Decision; by: DecidedBy } | undefined {
    if (this.ended) return { decision: 'deny', by: 'ended' }
    if (this.autoApprove.has(permission)) return { decision: 'once', by: 'auto-approve' }
    if (this.grants.has(permission)) return { decision: 'once', by: 'session-grant' }
    if (!this.options.interactive) return { decision: 'deny', by: 'no-terminal' }
    return undefined
  }

  private record(request: ConsentRequest, decision: Decision, by: DecidedBy): boolean {
    const result: ConsentResult = { id: request.id, permission: request.permission, decision, by }
    this.options.onActivity({ event: 'consent-decision', ...result })
    return decision !== 'deny'
  }
}
