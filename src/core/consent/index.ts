/**
 * The consent broker: the host's one gate between what a technician asks and what runs. Every
 * request becomes a typed, sanitized ConsentRequest and waits for a decision that only the end
 * user's own terminal can give (through `answer`). It fails closed: no answer before the deadline,
 * no terminal to ask on, or a session that has ended means deny. Imports core only.
 */
import path from 'node:path'
import { newId } from '../ids.js'
import type { HostActivity } from '../host/events.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import type {
  ConsentOutcome,
  ConsentRequest,
  ConsentResult,
  DecidedBy,
  Decision,
  FileScope,
  Permission,
} from './types.js'
import { listInWords } from './wording.js'

export * from './types.js'
export * from './wording.js'
export * from './refusal.js'

export const DEFAULT_CONSENT_TIMEOUT_MS = 60_000
export { SINGLE_PROMPT_SUBSYSTEM } from '../ssh/subsystems.js'
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
  /**
   * What the technician's groups allow, as the gateway sent it over the host's own connection:
   * anything else is refused unasked. Absent only where no gateway is involved (tests).
   */
  policy?: readonly Permission[]
  timeoutMs?: number
  /** Receives consent-request and consent-decision, for the view, the JSON stream and the audit log. */
  onActivity(activity: HostActivity): void
}

/** Permissions allowed without asking for paths inside one folder. */
interface FolderGrant {
  permissions: ReadonlySet<Permission>
  folder: string
  by: 'folder-grant' | 'transfer-grant'
}

interface Pending {
  request: ConsentRequest
  timer: NodeJS.Timeout
  settle(decision: Decision, by: DecidedBy): void
}

/** Extra facts about one request, beyond what is asked. */
export interface RequestOptions {
  detail?: string
  withdrawn?: AbortSignal
  scope?: FileScope
  /** Other permissions the request cannot go on without (a folder transfer needs files.browse): the policy must allow them too. */
  needs?: readonly Permission[]
  /** Only "for this session" or "deny" (the single prompt). */
  sessionOnly?: boolean
  /** What a session grant covers besides `permission`. */
  covers?: readonly Permission[]
}

export class ConsentBroker {
  private readonly grants = new Set<Permission>()
  private folderGrants: FolderGrant[] = []
  private readonly autoApprove: Set<Permission>
  private readonly policy?: ReadonlySet<Permission>
  private readonly pending = new Map<string, Pending>()
  private ended = false

  constructor(private readonly options: ConsentBrokerOptions) {
    this.autoApprove = new Set(options.autoApprove ?? [])
    if (options.policy) this.policy = new Set(options.policy)
  }

  /** What a single prompt would grant: everything the policy allows that a session can use. */
  get everythingAllowed(): Permission[] {
    const all = this.policy ? [...this.policy] : []
    return all.filter((permission) => !PERMISSIONS_OUTSIDE_A_SESSION.has(permission)).sort()
  }

  /**
   * The single prompt: one question for every permission the technician's groups allow. Needs
   * the policy to allow `single-prompt`. It is a grant for the rest of the session or nothing:
   * "once" would mean nothing for a list of things, so the end user is offered only "for this
   * session" and "deny", and any other answer is ignored.
   */
  requestEverything(withdrawn?: AbortSignal): Promise<ConsentOutcome> {
    const everything = this.everythingAllowed
    return this.decide(
      'single-prompt',
      `have, for the rest of this session, everything their group allows: ${listInWords(everything)}`,
      {
        ...(withdrawn ? { withdrawn } : {}),
        sessionOnly: true,
        covers: everything,
      },
    )
  }

  /**
   * Asks for `permission`; resolves true only when it is allowed. `summary` and `detail` may hold
   * anything the technician sent: they are sanitized here, before anyone sees them. A file request
   * gives its `scope`: the end user may then allow it for the session inside `scope.folder`.
   */
  request(
    permission: Permission,
    summary: string,
    detail?: string,
    withdrawn?: AbortSignal,
    scope?: FileScope,
  ): Promise<boolean> {
    return this.decide(permission, summary, {
      ...(detail !== undefined ? { detail } : {}),
      ...(withdrawn ? { withdrawn } : {}),
      ...(scope ? { scope } : {}),
    }).then((outcome) => outcome.allowed)
  }

  /** As `request`, with how it was decided and by whom, so the technician can be told why. */
  decide(permission: Permission, summary: string, options: RequestOptions = {}): Promise<ConsentOutcome> {
    const { detail, withdrawn, scope } = options
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_CONSENT_TIMEOUT_MS
    const covers = options.covers ? [...options.covers] : undefined
    const request: ConsentRequest = {
      id: newId(),
      permission,
      summary: sanitizeForTerminal(summary, MAX_SUMMARY),
      ...(detail !== undefined ? { detail: sanitizeForTerminal(detail, MAX_DETAIL_LENGTH) } : {}),
      technician: sanitizeForTerminal(this.options.technician, 200),
      deadline: new Date(Date.now() + timeoutMs).toISOString(),
      ...(scope ? { folder: sanitizeForTerminal(scope.folder, MAX_DETAIL_LENGTH) } : {}),
      ...(options.sessionOnly ? { sessionOnly: true as const } : {}),
      ...(covers ? { covers } : {}),
    }
    // The policy is checked before anyone is asked, for everything the request needs.
    const forbidden = this.policy && [permission, ...(options.needs ?? [])].find((p) => !this.policy!.has(p))
    this.options.onActivity({ event: 'consent-request', ...request })
    const immediate = withdrawn?.aborted
      ? { decision: 'deny' as const, by: 'withdrawn' as const }
      : forbidden && !this.ended
        ? { decision: 'deny' as const, by: 'policy' as const }
        : this.decideWithoutAsking(permission, scope)
    const outcome = (decision: Decision, by: DecidedBy): ConsentOutcome => ({
      allowed: this.record(request, decision, by),
      decision,
      by,
      permission: by === 'policy' && forbidden ? forbidden : permission,
      ...(by === 'timeout' ? { seconds: Math.round(timeoutMs / 1000) } : {}),
    })
    if (immediate) return Promise.resolve(outcome(immediate.decision, immediate.by))

    return new Promise((resolve) => {
      const settle = (answer: Decision, by: DecidedBy) => {
        if (!this.pending.delete(request.id)) return
        clearTimeout(timer)
        // "In this folder" means nothing for a request that names no folder: it counts as once.
        const decision = answer === 'folder' && !scope ? 'once' : answer
        if (decision === 'session')
          for (const granted of [permission, ...(covers ?? [])]) this.grants.add(granted)
        if (decision === 'folder' && scope) {
          this.folderGrants.push({
            permissions: new Set([permission]),
            folder: scope.folder,
            by: 'folder-grant',
          })
        }
        resolve(outcome(decision, by))
      }
      const timer = setTimeout(() => settle('deny', 'timeout'), timeoutMs)
      this.pending.set(request.id, { request, timer, settle })
      withdrawn?.addEventListener('abort', () => settle('deny', 'withdrawn'), { once: true })
    })
  }

  /** The end user's answer to a prompt; an unknown or already settled id is ignored. */
  answer(id: string, decision: Decision): void {
    const pending = this.pending.get(id)
    // A session-only prompt has no "once" and no folder: such an answer is not one it offered.
    if (pending?.request.sessionOnly && decision !== 'session' && decision !== 'deny') return
    pending?.settle(decision, 'end-user')
  }

  /**
   * The end user allowed one folder transfer as a whole: its requests for `permissions` inside
   * `folder` go through unasked until `until` aborts (the transfer is over) or grants are revoked.
   */
  grantTransfer(permissions: readonly Permission[], folder: string, until: AbortSignal): void {
    if (this.ended || until.aborted) return
    const grant: FolderGrant = { permissions: new Set(permissions), folder, by: 'transfer-grant' }
    this.folderGrants.push(grant)
    until.addEventListener('abort', () => {
      this.folderGrants = this.folderGrants.filter((candidate) => candidate !== grant)
    })
  }

  /** Refuses, without asking, a request that has no prompt (the default for anything unknown). */
  refuse(what: string): void {
    this.options.onActivity({ event: 'refused', request: sanitizeForTerminal(what, MAX_SUMMARY) })
  }

  /** Forgets every grant made for the session and denies whatever is waiting. */
  revoke(): void {
    this.grants.clear()
    this.folderGrants = []
    for (const pending of [...this.pending.values()]) pending.settle('deny', 'revoked')
  }

  /**
   * Forgets one permission for the rest of the session, granted or pre-approved (the end user took
   * control back): the next request for it is asked again.
   */
  forget(permission: Permission): void {
    this.grants.delete(permission)
    this.autoApprove.delete(permission)
  }

  /** The session is over: deny what waits and everything after. */
  end(): void {
    this.ended = true
    this.grants.clear()
    this.folderGrants = []
    for (const pending of [...this.pending.values()]) pending.settle('deny', 'ended')
  }

  /** Permissions granted for the rest of the session, by the end user or up front. */
  get granted(): Permission[] {
    return [...new Set([...this.autoApprove, ...this.grants])].sort()
  }

  private decideWithoutAsking(
    permission: Permission,
    scope: FileScope | undefined,
  ): { decision: Decision; by: DecidedBy } | undefined {
    if (this.ended) return { decision: 'deny', by: 'ended' }
    if (this.autoApprove.has(permission)) return { decision: 'once', by: 'auto-approve' }
    if (this.grants.has(permission)) return { decision: 'once', by: 'session-grant' }
    const folderGrant =
      scope &&
      this.folderGrants.find(
        (grant) => grant.permissions.has(permission) && isInside(scope.path, grant.folder),
      )
    if (folderGrant) return { decision: 'once', by: folderGrant.by }
    if (!this.options.interactive) return { decision: 'deny', by: 'no-terminal' }
    return undefined
  }

  private record(request: ConsentRequest, decision: Decision, by: DecidedBy): boolean {
    const result: ConsentResult = {
      id: request.id,
      permission: request.permission,
      decision,
      by,
      ...(decision === 'folder' && request.folder !== undefined ? { folder: request.folder } : {}),
      ...(decision === 'session' && request.covers ? { covers: request.covers } : {}),
    }
    this.options.onActivity({ event: 'consent-decision', ...result })
    return decision !== 'deny'
  }
}

/**
 * Permissions about the session itself, not something done on this computer, and watching or
 * typing in the end user's own terminal, which is always asked on its own (as control is in
 * LogMeIn Rescue): a single prompt does not grant them.
 */
const PERMISSIONS_OUTSIDE_A_SESSION: ReadonlySet<Permission> = new Set([
  'single-prompt',
  'private',
  'transfer',
  'view',
  'control',
  // Takes over the end user's screen: asked on its own too.
  'present',
])

/** True when `candidate` is `folder` or lies under it (both absolute, links already resolved). */
export function isInside(candidate: string, folder: string): boolean {
  const relative = path.relative(folder, candidate)
  const outside = relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)
  return !outside
}
