/** What a session's terminal view shows, derived from its events by one reducer. */
import type { TechnicianIdentity } from '../accounts/index.js'
import type { EndedBy, Role } from '../gateway/control-messages.js'
import type { LinkSide, SessionEvent } from './index.js'

export interface SessionViewState {
  role: Role
  phase: 'connecting' | 'waiting' | 'connected' | 'ended'
  /** When the PIN expires, while waiting. */
  expiresAt?: string
  sas?: string
  technician?: TechnicianIdentity
  ended?: { by: EndedBy; reason: string; abnormal: boolean }
  /** Set while a link under the session is down: whose, since when (ms), and for how long it is held. */
  link?: { side: LinkSide; since: number; graceMs: number }
}

export function initialSessionView(role: Role): SessionViewState {
  return { role, phase: 'connecting' }
}

export function reduceSessionView(state: SessionViewState, event: SessionEvent): SessionViewState {
  switch (event.event) {
    case 'waiting':
      return { ...state, phase: 'waiting', expiresAt: event.expiresAt }
    case 'paired':
      return { ...state, phase: 'connected', sas: event.sas, technician: event.technician }
    case 'transferred':
      // The next technician pairs afresh: no words to compare until then.
      return { ...state, phase: 'waiting', sas: undefined, expiresAt: undefined, technician: event.to }
    case 'link-lost':
      return { ...state, link: state.link ?? { side: event.side, since: Date.now(), graceMs: event.graceMs } }
    case 'link-restored':
      return { ...state, link: undefined }
    case 'ended':
      return {
        ...state,
        link: undefined,
        phase: 'ended',
        ended: { by: event.by, reason: event.reason, abnormal: !!event.code },
      }
  }
}
