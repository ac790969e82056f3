/**
 * What the end user's live view shows during `rescue host`, derived by one pure reducer from the
 * session's events, the host's activity and the view's own key presses. Renders nothing; imports
 * core only.
 */
import type { ConsentRequest, ConsentResult, DecidedBy, Permission } from '../consent/types.js'
import { nounFor, verbFor } from '../consent/wording.js'
import type { SessionEvent } from '../session/index.js'
import { initialSessionView, reduceSessionView, type SessionViewState } from '../session/view-state.js'
import { formatSize } from '../text/size.js'
import { trustGatewayWarning } from '../trust/describe.js'
import { describeHostActivity } from './describe.js'
import type { ChannelKind, HostActivity } from './events.js'

/** The most feed entries kept; the view shows only the last few. */
export const FEED_LIMIT = 50

export interface OpenChannel {
  channel: number
  kind: ChannelKind
  command?: string
}

export interface FeedEntry {
  /** When it happened (ISO-8601); the view shows it as local HH:MM:SS. */
  time: string
  text: string
}

export interface HostViewState extends SessionViewState {
  /** Requests waiting for the end user, oldest first; the first is the one on screen. */
  prompts: ConsentRequest[]
  /** When each waiting request arrived (epoch ms, by id), to say how long a timed-out one waited. */
  askedAt: Record<string, number>
  /**
   * What the end user granted for the rest of the session, in words, some limited to a folder
   * ("send files to this computer, only in /tmp"), without duplicates, in the order granted.
   */
  grants: string[]
  /** Permissions `--auto-approve` granted up front. */
  autoApprove: Permission[]
  openChannels: OpenChannel[]
  /** Files on their way, in the order they started. */
  transfers: TransferInProgress[]
  /** What happened, newest last, at most FEED_LIMIT entries. */
  feed: FeedEntry[]
  /** The end user pressed `q` and is asked to confirm. */
  confirmingEnd: boolean
  /**
   * This pairing's security words: `asking` shows the question (and nothing else may be asked
   * until it is answered), `confirmed` once the end user said yes, `unasked` when the host does
   * not ask (unattended) or nothing is paired.
   */
  words: 'unasked' | 'asking' | 'confirmed'
  /**
   * While an invited technician's words are asked, they fill the identity and words on screen
   * (the same question, answered with the same keys); the lead's are kept here to come back.
   */
  lead?: { technician?: SessionViewState['technician']; sas?: string }
  /** Invited technicians who paired (rescue invite) and are still here, by email, with their words; in the order they came. */
  joining?: Record<string, { technician: NonNullable<SessionViewState['technician']>; sas: string }>
  /**
   * Invited technicians whose words arrived while another question was on screen, oldest first:
   * each is asked in turn (their own deadline runs meanwhile, as it would unanswered).
   */
  wordsWaiting?: { technician: string; sas: string; deadline: string }[]
  /** When silence about the words ends the session (ISO-8601), while asking. */
  wordsDeadline?: string
  /** `--trust-gateway`: what is pre-approved rests on the gateway's word alone. */
  trustGateway?: boolean
  /** The technician records shells and commands (and keystrokes, when `input`). */
  recorded?: { input: boolean }
}

export interface TransferInProgress {
  direction: 'to-host' | 'from-host'
  path: string
  bytes: number
  total?: number
}

export type HostViewAction =
  | SessionEvent
  | HostActivity
  | { event: 'confirm-end' }
  | { event: 'cancel-end' }
  /** The end user wrote a chat line while the technician had no chat open. */
  | { event: 'chat-unsent' }

/** The host's view before anything has happened. */
export function initialHostView(): HostViewState {
  return {
    ...initialSessionView('host'),
    prompts: [],
    askedAt: {},
    grants: [],
    autoApprove: [],
    openChannels: [],
    transfers: [],
    feed: [],
    confirmingEnd: false,
    words: 'unasked',
  }
}

/** The next view state after one action; `now` stamps the feed entry the action adds, if any. */
export function reduceHostView(
  state: HostViewState,
  action: HostViewAction,
  now = new Date(),
): HostViewState {
  const log = (next: HostViewState, text: string): HostViewState => ({
    ...next,
    feed: [...next.feed, { time: now.toISOString(), text }].slice(-FEED_LIMIT),
  })

  switch (action.event) {
    case 'waiting':
      return { ...state, ...reduceSessionView(state, action), role: 'host' }
    case 'paired': {
      // New words: whatever was said about the last pairing's says nothing about these.
      const { wordsDeadline: _old, ...rest } = state
      return { ...rest, ...reduceSessionView(state, action), role: 'host', words: 'unasked' }
    }
    case 'link-lost':
      return log(
        { ...state, ...reduceSessionView(state, action), role: 'host' },
        action.side === 'self'
          ? 'your connection dropped; reconnecting…'
          : "the technician's connection dropped; waiting for it to come back…",
      )
    case 'restarted':
      return log(
        { ...state, ...reduceSessionView(state, action), role: 'host' },
        'back in the session after the restart: everything must be allowed again',
      )
    case 'reboot-scheduled':
    case 'session-rejoined':
      return log(state, describeHostActivity(action))
    case 'link-direct':
    case 'link-relay':
      return log(
        { ...state, ...reduceSessionView(state, action), role: 'host' },
        action.event === 'link-direct'
          ? `direct link to the technician's computer (${action.peer}): the gateway no longer carries the session`
          : `through the gateway: ${action.reason}`,
      )
    case 'direct-offered':
      return log(state, `listening on port ${action.port} for 10 s for a direct link from the technician`)
    case 'direct-refused':
      return log(
        state,
        `refused a connection to the direct link's port from ${action.from}: ${action.reason}`,
      )
    case 'link-restored':
      return log(
        { ...state, ...reduceSessionView(state, action), role: 'host' },
        `reconnected after ${(action.downMs / 1000).toFixed(1)} s; nothing was lost`,
      )
    case 'transferred':
      return log(
        {
          ...withoutWords(state),
          ...reduceSessionView(withoutWords(state), action),
          role: 'host',
          prompts: [],
          askedAt: {},
          grants: [],
          openChannels: [],
          transfers: [],
        },
        `handed over to ${action.to.name} <${action.to.email}>: everything you allowed is revoked`,
      )
    case 'ended': {
      const settled = state.words === 'asking' ? withoutWords(state) : state
      return {
        ...settled,
        ...reduceSessionView(settled, action),
        role: 'host',
        prompts: [],
        askedAt: {},
        confirmingEnd: false,
      }
    }

    case 'words-asked':
      if (action.technician) {
        if (!state.joining?.[action.technician] || state.phase !== 'connected') return state
        const asked = { technician: action.technician, sas: action.sas, deadline: action.deadline }
        // One question at a time: another invited technician's words wait their turn.
        if (state.words !== 'confirmed') {
          return { ...state, wordsWaiting: [...(state.wordsWaiting ?? []), asked] }
        }
        return askInvited(state, asked, log)
      }
      if (state.phase !== 'connected' || state.words !== 'unasked') return state
      return { ...state, words: 'asking', wordsDeadline: action.deadline, confirmingEnd: false }
    case 'words-confirmed': {
      if (action.technician) return nextWords(log(backToLead(state), `you let ${action.technician} in`), log)
      const { wordsDeadline: _deadline, ...rest } = state
      return log({ ...rest, words: 'confirmed' }, 'you confirmed the security words with your technician')
    }
    case 'words-rejected':
      if (action.technician) {
        const who = action.technician
        const waiting = state.wordsWaiting?.some((asked) => asked.technician === who)
        // Words still waiting their turn ran out of time: off the queue, the question on screen stays.
        if (waiting) return log(withoutWaiting(state, who), `${who} was not let in: nobody answered in time`)
        return nextWords(log(backToLead(state), `${who} was not let in`), log)
      }
      return log(
        withoutWords(state),
        action.by === 'end-user'
          ? 'you said the security words differ: the session ends'
          : 'the security words were not confirmed in time: the session ends',
      )

    case 'confirm-end':
      return state.phase === 'ended' ? state : { ...state, confirmingEnd: true }
    case 'cancel-end':
      return { ...state, confirmingEnd: false }

    case 'consent-request': {
      // Nothing can be answered once the session is over; the broker denies such requests itself.
      if (state.phase === 'ended' || state.prompts.some((prompt) => prompt.id === action.id)) return state
      const { event: _event, ...request } = action
      const next = {
        ...state,
        prompts: [...state.prompts, request],
        askedAt: { ...state.askedAt, [request.id]: now.getTime() },
      }
      return log(next, `${request.technician} asks to ${request.summary}${detailSuffix(request.detail)}`)
    }
    case 'consent-decision': {
      const prompt = state.prompts.find((candidate) => candidate.id === action.id)
      const askedAt = state.askedAt[action.id]
      const waitedSeconds =
        prompt && askedAt !== undefined
          ? Math.round((Date.parse(prompt.deadline) - askedAt) / 1000)
          : undefined
      const { [action.id]: _gone, ...stillAsked } = state.askedAt
      const next = {
        ...state,
        prompts: state.prompts.filter((candidate) => candidate.id !== action.id),
        askedAt: stillAsked,
        grants: grantsAfter(state.grants, action),
      }
      const what = nounFor(action.permission)
      if (action.by === 'end-user') {
        const verdict = {
          once: `you allowed ${what} once`,
          session: `you allowed ${what} for this session`,
          folder: `you allowed ${what} for this session, only in ${action.folder ?? 'that folder'}`,
          deny: `you denied ${what}`,
        }[action.decision]
        const covered = action.covers ? `: ${action.covers.map(verbFor).join(', ') || 'nothing'}` : ''
        return log(next, `${verdict}${covered}`)
      }
      const verdict = action.decision === 'deny' ? 'was denied' : 'was allowed'
      return log(next, `${what} ${verdict}: ${why(action.by, waitedSeconds)}`)
    }

    case 'channel-open': {
      const { event: _event, ...channel } = action
      const next = {
        ...state,
        openChannels: [...state.openChannels.filter((open) => open.channel !== action.channel), channel],
      }
      const text =
        action.kind === 'shell'
          ? 'shell opened'
          : action.kind === 'sftp'
            ? 'file access opened'
            : action.kind === 'view'
              ? 'the technician is watching your shared terminal'
              : action.kind === 'control'
                ? 'the technician may type in your shared terminal'
                : action.kind === 'present'
                  ? 'the technician showed you their terminal'
                  : action.command
                    ? `ran: ${action.command}`
                    : 'ran a command'
      return log(next, text)
    }
    case 'channel-close': {
      const next = {
        ...state,
        openChannels: state.openChannels.filter((open) => open.channel !== action.channel),
      }
      if (action.kind === 'shell') return log(next, 'shell closed')
      if (action.kind === 'sftp') return log(next, 'file access closed')
      if (action.kind === 'view') return log(next, 'the technician stopped watching')
      if (action.kind === 'control') return log(next, 'the technician can no longer type')
      if (action.kind === 'present') return log(next, 'the technician stopped showing their terminal')
      if (action.exitCode !== undefined) return log(next, `command finished, exit status ${action.exitCode}`)
      if (action.signal !== undefined) return log(next, `command ended by signal ${action.signal}`)
      return log(next, 'command finished')
    }
    case 'grants-revoked': {
      const closed =
        action.closedChannels === 0
          ? 'no channel was open'
          : `${action.closedChannels} channel${action.closedChannels === 1 ? '' : 's'} closed`
      return log(
        { ...state, grants: [], openChannels: [] },
        `you revoked every grant; ${closed}; the technician is still connected: q ends the session`,
      )
    }
    case 'auto-approve': {
      const autoApprove = [...new Set(action.permissions)]
      if (autoApprove.length === 0) return { ...state, autoApprove }
      return log({ ...state, autoApprove }, `pre-approved by --auto-approve: ${autoApprove.join(', ')}`)
    }

    case 'control-taken-back':
      return log(
        { ...state, openChannels: state.openChannels.filter((open) => open.kind !== 'control') },
        'you took control of your terminal back',
      )
    case 'stopped-watching':
      return log(state, "you stopped watching the technician's terminal")
    case 'refused':
      return log(state, `refused without asking: ${action.request}`)
    case 'env':
      return log(state, `passed on the technician's ${action.name}=${action.value} (a locale setting)`)
    case 'trust-gateway':
      return log({ ...state, trustGateway: true }, `warning: ${trustGatewayWarning(action.permissions)}`)
    case 'recording': {
      const { recorded: _was, ...rest } = state
      const next = action.state === 'started' ? { ...rest, recorded: { input: action.input } } : rest
      return log(next, describeHostActivity(action))
    }

    case 'chat-unsent':
      return log(state, 'not sent: the technician has no chat open (they can run rescue chat)')
    case 'chat':
      return log(state, `${action.from === 'host' ? 'you' : 'technician'}: ${action.text}`)

    case 'file-progress': {
      const { event: _event, ...progress } = action
      const same = (transfer: TransferInProgress) =>
        transfer.path === progress.path && transfer.direction === progress.direction
      const transfers = state.transfers.some(same)
        ? state.transfers.map((transfer) => (same(transfer) ? progress : transfer))
        : [...state.transfers, progress]
      return { ...state, transfers }
    }
    case 'file-transfer': {
      const verb = action.direction === 'to-host' ? 'received' : 'sent'
      const size = formatSize(action.bytes)
      const transfers = state.transfers.filter(
        (transfer) => transfer.path !== action.path || transfer.direction !== action.direction,
      )
      const outcome = action.complete ? `SHA-256 ${action.sha256.slice(0, 16)}…` : 'incomplete'
      return log({ ...state, transfers }, `${verb} ${action.path} (${size}, ${outcome})`)
    }

    case 'technician-invited':
      return log(
        state,
        `${person(action.by)} invited ${person(action.technician)}: they will pair with you, with words of their own`,
      )
    case 'technician-joined':
      return log(
        {
          ...state,
          joining: {
            ...state.joining,
            [action.technician.email]: { technician: action.technician, sas: action.sas },
          },
        },
        `${person(action.technician)} (invited) is connecting`,
      )
    case 'technician-removed':
      return log(state, `you removed ${person(action.technician)}`)
    case 'technician-left': {
      if (action.first) return log(withoutFirst(state), `${person(action.technician)} left: ${action.reason}`)
      const { [action.technician.email]: _gone, ...joining } = state.joining ?? {}
      const asked = state.lead && state.technician?.email === action.technician.email
      const left = log(
        { ...withoutWaiting(asked ? backToLead(state) : state, action.technician.email), joining },
        `${person(action.technician)} left: ${action.reason}`,
      )
      return asked ? nextWords(left, log) : left
    }
    case 'lead-changed':
      return log(state, `${person(action.to)} now leads the session`)
    case 'invitation-refused':
      return log(state, `${person(action.technician)} was invited; refused: ${action.reason}`)

    default: {
      // A new HostActivity must get its feed line here: the end user sees everything the host does.
      const unhandled: never = action
      return unhandled
    }
  }
}

const person = (who: { name: string; email: string }) => (who.name ? `${who.name} <${who.email}>` : who.email)

/** An invited technician's identity and words on screen, asked as the lead's were; the lead's kept aside. */
function askInvited(
  state: HostViewState,
  asked: { technician: string; sas: string; deadline: string },
  log: FeedLog,
): HostViewState {
  const joining = state.joining?.[asked.technician]
  if (!joining) return state
  return log(
    {
      ...withoutWaiting(state, asked.technician),
      lead: {
        ...(state.technician ? { technician: state.technician } : {}),
        ...(state.sas ? { sas: state.sas } : {}),
      },
      technician: joining.technician,
      sas: asked.sas,
      words: 'asking',
      wordsDeadline: asked.deadline,
    },
    `${person(joining.technician)} (invited) reads you security words of their own: y lets them in, n does not`,
  )
}

/** The next invited technician's words waiting their turn, if any, once the screen is free. */
function nextWords(state: HostViewState, log: FeedLog): HostViewState {
  const [next] = state.wordsWaiting ?? []
  if (!next || state.words !== 'confirmed' || state.phase !== 'connected') return state
  return askInvited(state, next, log)
}

/** Adds a line to the feed (the reducer's, stamped with its `now`). */
type FeedLog = (next: HostViewState, text: string) => HostViewState

function withoutWaiting(state: HostViewState, technician: string): HostViewState {
  if (!state.wordsWaiting) return state
  const wordsWaiting = state.wordsWaiting.filter((asked) => asked.technician !== technician)
  return { ...state, wordsWaiting }
}

/** The lead's identity and words back on screen, once an invited technician's were answered. */
function backToLead(state: HostViewState): HostViewState {
  if (!state.lead) return state
  const { lead, wordsDeadline: _deadline, ...rest } = state
  if (!lead.technician) {
    // The session's own technician left meanwhile: only the invited ones are here, on their line.
    const { technician: _invited, sas: _sas, ...others } = rest
    return { ...others, words: 'confirmed' }
  }
  return { ...rest, ...lead, words: 'confirmed' }
}

/**
 * The session's own technician left while invited ones go on: their identity and words leave the
 * screen (kept aside while an invited technician's words are asked), and what they held with them.
 */
function withoutFirst(state: HostViewState): HostViewState {
  if (state.lead) return { ...state, lead: {} }
  const { technician: _technician, sas: _sas, ...rest } = state
  return { ...rest, words: 'confirmed', prompts: [], askedAt: {}, openChannels: [], transfers: [] }
}

function withoutWords(state: HostViewState): HostViewState {
  const { wordsDeadline: _deadline, ...rest } = state
  return { ...rest, words: 'unasked' }
}

function detailSuffix(detail: string | undefined): string {
  return detail ? `: ${detail}` : ''
}

/** What is granted for the rest of the session, in words: "open a shell", "send files to this computer, only in /tmp". */
function grantsAfter(grants: string[], decision: ConsentResult): string[] {
  if (decision.decision === 'session') {
    // A single prompt's grant covers what it listed; the prompt itself is nothing to keep.
    const granted = decision.covers ?? [decision.permission]
    return unique([...grants, ...granted.map(verbFor)])
  }
  if (decision.decision === 'folder' && decision.folder !== undefined) {
    return unique([...grants, `${verbFor(decision.permission)}, only in ${decision.folder}`])
  }
  return grants
}

function unique(list: string[]): string[] {
  return [...new Set(list)]
}

/** Why a decision was made without the end user pressing a key. */
function why(by: Exclude<DecidedBy, 'end-user'>, waitedSeconds: number | undefined): string {
  switch (by) {
    case 'timeout':
      return waitedSeconds !== undefined && waitedSeconds > 0
        ? `no answer in ${waitedSeconds} s`
        : 'no answer in time'
    case 'auto-approve':
      return 'pre-approved'
    case 'session-grant':
      return 'granted for this session'
    case 'folder-grant':
      return 'granted for this session in that folder'
    case 'transfer-grant':
      return 'part of a folder transfer you allowed'
    case 'no-terminal':
      return 'no terminal to ask on'
    case 'unknown-request':
      return 'not a request this computer knows how to ask about'
    case 'withdrawn':
      return 'the technician withdrew the request'
    case 'policy':
      return 'their group does not allow it'
    case 'ended':
      return 'the session ended'
    case 'revoked':
      return 'you revoked every grant'
  }
}
