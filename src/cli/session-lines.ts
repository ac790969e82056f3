/**
 * Plain-text and JSON-lines renderings of session events, for pipes, logs and scripts. The
 * terminal view (Ink) says the same things; this is its non-TTY twin.
 */
import { describeHostActivity } from '../core/host/describe.js'
import type { HostEvent } from '../core/host/index.js'
import type { Role } from '../core/protocol/control-messages.js'
import type { LinkSide, SessionEvent, WordsEvent } from '../core/session/index.js'
import { toJsonLine } from '../core/text/json-line.js'
import { describeVerified, VOUCHED_BY_GATEWAY } from '../core/trust/index.js'

export function formatCountdown(untilIso: string, now = Date.now()): string {
  // An unreadable time counts as already past rather than showing NaN:NaN.
  const seconds = Math.max(0, Math.round((Date.parse(untilIso) - now) / 1000)) || 0
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`
}

/** What the end user's view says after "waiting for": a PIN's countdown or a shared queue's wait. */
export function waitingDetail(
  state: { via?: 'pin' | 'channel' | 'queue'; channel?: string; expiresAt?: string },
  now: number,
): { what: string; until?: string } {
  const left = state.expiresAt && formatCountdown(state.expiresAt, now)
  if (state.via === 'channel') {
    return {
      what: `waiting in the shared queue of ${state.channel ?? 'your helpdesk'} for a technician`,
      ...(left ? { until: `for up to ${left} more` } : {}),
    }
  }
  return { what: 'waiting for your technician', ...(left ? { until: `PIN expires in ${left}` } : {}) }
}

/** What each side waits for, and until when: a PIN expires, a shared queue gives up. */
export function waitingLine(event: Extract<SessionEvent, { event: 'waiting' }>, now = Date.now()): string {
  const left = formatCountdown(event.expiresAt, now)
  if (event.via === 'channel') {
    return `waiting in the shared queue of ${event.channel ?? 'your helpdesk'} for a technician to take your session (for up to ${left} more)`
  }
  if (event.via === 'queue') return 'taking the session from the queue'
  return event.role === 'host'
    ? 'waiting for your technician'
    : `waiting for the end user; the PIN expires in ${left}`
}

/** What the technician reads about the end user's answer on the security words, in lines and views. */
export const endUserWordsText = {
  waiting: 'waiting for the end user to confirm the security words…',
  confirmed: 'confirmed: the end user says the security words match',
  unchecked: "the end user's computer runs unattended: nobody there compares the security words",
} as const

/** The human sentence(s) for an event, as the side that received it should read them. */
export function describeEvent(event: SessionEvent | WordsEvent): string[] {
  switch (event.event) {
    case 'waiting':
      return [waitingLine(event)]
    case 'paired': {
      const words = `security words: ${event.sas}`
      if (event.technician) {
        const { name, email, organisation } = event.technician
        return [
          `connected to technician ${name} <${email}> of ${organisation}`,
          `${words} (your technician must read you the same words)`,
          event.verified ? describeVerified(event.verified) : `${email} ${VOUCHED_BY_GATEWAY}`,
        ]
      }
      return [
        'connected to the end user',
        `${words} (read them to the end user: theirs must be the same)`,
        `session ${event.sessionId} (for rescue transfer, and --session with send, get, sysinfo, chat)`,
      ]
    }
    case 'transferred': {
      const { name, email, organisation } = event.to
      return [
        `your technician handed the session to ${name} <${email}> of ${organisation}; everything you allowed is revoked`,
        'waiting for them to connect: you will compare new security words',
      ]
    }
    case 'link-lost':
      if (event.restarting) return [describeRestarting(event.graceMs)]
      return [describeLinkLost(event.role, event.side, event.graceMs)]
    case 'restarted':
      return event.role === 'host'
        ? ['back in the session after the restart; everything must be allowed again']
        : [
            "the end user's computer is back from its restart (the same host key): a new SSH connection; a shell starts anew, and everything must be allowed again",
          ]
    case 'link-restored':
      return [`reconnected after ${(event.downMs / 1000).toFixed(1)} s; the session goes on where it was`]
    case 'direct-offered':
      return [`listening on port ${event.port} for 10 s for a direct link from your technician`]
    case 'link-direct':
      return [`direct link (${event.peer}): the session no longer goes through the gateway`]
    case 'link-relay':
      return [`through the gateway: ${event.reason}`]
    case 'direct-refused':
      return [`refused a connection to the direct link's port from ${event.from}: ${event.reason}`]
    case 'ended':
      return [`session ended: ${event.reason}`]
    case 'words-waiting':
      return [endUserWordsText.waiting]
    case 'words-confirmed':
      return [endUserWordsText.confirmed]
    case 'words-unchecked':
      return [endUserWordsText.unchecked]
  }
}

/** The technician's line while the end user's computer restarts. */
export function describeRestarting(graceMs: number): string {
  const minutes = Math.max(1, Math.round(graceMs / 60_000))
  return `the end user's computer is restarting; waiting up to ${minutes} min for it to come back (the end user runs rescue host --resume)…`
}

/** "connection lost, reconnecting…" for this side's link; "… waiting for them" for the peer's. */
export function describeLinkLost(role: Role, side: LinkSide, graceMs: number): string {
  const seconds = Math.round(graceMs / 1000)
  if (side === 'self') return `connection lost, reconnecting (the session is held for ${seconds} s)…`
  const peer = role === 'host' ? "the technician's" : "the end user's"
  return `${peer} connection dropped; waiting up to ${seconds} s for it to come back…`
}

/** Writes each event as one JSON line (`--json`) or as its human sentences. */
export function lineWriter(
  json: boolean,
  write: (line: string) => void,
): (event: SessionEvent | WordsEvent) => void {
  return json ? (event) => write(toJsonLine(event)) : (event) => describeEvent(event).forEach(write)
}

/** The end user's lines: session events, and what the technician asked and did. */
export function describeHostEvent(event: HostEvent): string[] {
  switch (event.event) {
    case 'waiting':
    case 'paired':
    case 'transferred':
    case 'link-lost':
    case 'link-restored':
    case 'restarted':
    case 'ended':
    case 'direct-offered':
    case 'link-direct':
    case 'link-relay':
    case 'direct-refused':
      return describeEvent(event)
    case 'consent-request':
      return [`${describeHostActivity(event)} (no terminal to answer on: denied unless pre-approved)`]
    default:
      return [describeHostActivity(event)]
  }
}
