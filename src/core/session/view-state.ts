/** What a session's terminal view shows, derived from its events by one reducer. */
import type { TechnicianIdentity } from '../accounts/index.js'
import type { EndedBy, Role } from '../gateway/control-messages.js'
import type { VerifiedTechnician } from '../trust/index.js'
import type { SessionEvent } from './index.js'

export interface SessionViewState {
  role: Role
  phase: 'connecting' | 'waiting' | 'connected' | 'ended'
  /** When the PIN expires, while waiting. */
  expiresAt?: string
  sas?: string
  technician?: TechnicianIdentity
  /** The host's, with --trust: the technician as the organisation's key vouches by signature. */
  verified?: VerifiedTechnician
  ended?: { by: EndedBy; reason: string; abnormal: boolean }
}

export function initialSessionView(role: Role): SessionViewState {
  return { role, phase: 'connecting' }
}

export function reduceSessionView(state: SessionViewState, event: SessionEvent): SessionViewState {
  switch (event.event) {
    case 'waiting':
      return { ...state, phase: 'waiting', expiresAt: event.expiresAt }
    case 'paired':
      return {
        ...state,
        phase: 'connected',
        sas: event.sas,
        technician: event.technician,
        verified: event.verified,
      }
    case 'transferred':
      // The next technician pairs afresh: no words to compare until then.
      return {
        ...state,
        phase: 'waiting',
        sas: undefined,
        expiresAt: undefined,
        technician: event.to,
        verified: undefined,
      }
    case 'ended':
      return {
        ...state,
        phase: 'ended',
        ended: { by: event.by, reason: event.reason, abnormal: !!event.code },
      }
  }
}
