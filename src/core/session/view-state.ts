/** What a session's terminal view shows, derived from its events by one reducer. */
import type { TechnicianIdentity } from '../accounts/index.js'
import type { EndedBy, Role } from '../protocol/control-messages.js'
import type { VerifiedTechnician } from '../trust/index.js'
import type { LinkSide, SessionEvent, WordsEvent } from './index.js'

export interface SessionViewState {
  role: Role
  phase: 'connecting' | 'waiting' | 'connected' | 'ended'
  /** The technician's: what the end user said about the security words, as the host told it over SSH. */
  endUserWords?: 'waiting' | 'confirmed' | 'unchecked'
  /** When the wait ends (the PIN expires, a shared queue gives up), while waiting. */
  expiresAt?: string
  /** What the wait is for: a PIN (when absent), a group's shared queue, a session taken from a queue. */
  via?: 'pin' | 'channel' | 'queue'
  /** The group whose shared queue the end user waits in. */
  channel?: string
  /** Once paired: what rescue transfer and --session ask for. */
  sessionId?: string
  sas?: string
  technician?: TechnicianIdentity
  /** The host's, with --trust: the technician as the organisation's key vouches by signature. */
  verified?: VerifiedTechnician
  ended?: { by: EndedBy; reason: string; abnormal: boolean }
  /** Set while a link under the session is down: whose, since when (ms), and for how long it is held. */
  link?: { side: LinkSide; since: number; graceMs: number; restarting?: boolean }
  /** Which way the session's bytes go once paired: `direct` to the peer, or through the gateway. */
  path?: 'direct' | 'relay'
}

export function initialSessionView(role: Role): SessionViewState {
  return { role, phase: 'connecting' }
}

export function reduceSessionView(
  state: SessionViewState,
  event: SessionEvent | WordsEvent,
): SessionViewState {
  switch (event.event) {
    case 'waiting':
      return {
        ...state,
        phase: 'waiting',
        expiresAt: event.expiresAt,
        via: event.via,
        channel: event.channel,
      }
    case 'paired':
      return {
        ...state,
        phase: 'connected',
        sas: event.sas,
        technician: event.technician,
        sessionId: event.sessionId,
        verified: event.verified,
      }
    case 'transferred':
      // The next technician pairs afresh: no words to compare until then.
      return {
        ...state,
        phase: 'waiting',
        sas: undefined,
        expiresAt: undefined,
        via: undefined,
        technician: event.to,
        endUserWords: undefined,
        verified: undefined,
        path: undefined,
      }
    case 'words-waiting':
    case 'words-confirmed':
    case 'words-unchecked':
      return { ...state, endUserWords: wordsStatus[event.event] }
    case 'link-lost':
      if (event.restarting) {
        return {
          ...state,
          link: { side: 'peer', since: Date.now(), graceMs: event.graceMs, restarting: true },
        }
      }
      return { ...state, link: state.link ?? { side: event.side, since: Date.now(), graceMs: event.graceMs } }
    case 'link-restored':
      return { ...state, link: undefined }
    case 'restarted':
      return { ...state, link: undefined, path: undefined }
    case 'link-direct':
      return { ...state, path: 'direct' }
    case 'link-relay':
      return { ...state, path: 'relay' }
    case 'direct-offered':
    case 'direct-refused':
      return state
    case 'ended':
      return {
        ...state,
        link: undefined,
        phase: 'ended',
        ended: { by: event.by, reason: event.reason, abnormal: !!event.code },
      }
  }
}

const wordsStatus = {
  'words-waiting': 'waiting',
  'words-confirmed': 'confirmed',
  'words-unchecked': 'unchecked',
} as const
