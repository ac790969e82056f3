/** One plain sentence per host activity, shared by `rescue host`'s line output and `rescue log`. */
import type { DecidedBy, Decision } from '../consent/types.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { trustGatewayWarning } from '../trust/describe.js'
import type { HostActivity } from './events.js'

export const decidedByText = {
  'end-user': ' by the end user',
  'session-grant': ` by the end user's earlier "for this session" answer`,
  'folder-grant': ` by the end user's earlier "for this session in this folder" answer`,
  'transfer-grant': ' as part of a folder transfer the end user allowed',
  'auto-approve': ' by rescue host --auto-approve',
  timeout: ': nobody answered in time',
  'no-terminal': ': there was no terminal to ask on',
  'unknown-request': ': the host does not know how to ask about this request',
  ended: ': the session ended while it waited',
  revoked: ': the end user revoked every grant while it waited',
  withdrawn: ': the technician withdrew the request before an answer',
  policy: ": the technician's groups do not allow it",
} as const satisfies Record<DecidedBy, string>

export const decisionText = {
  once: 'allowed once',
  session: 'allowed for the rest of the session',
  folder: 'allowed for the rest of the session in one folder',
  deny: 'denied',
} as const satisfies Record<Decision, string>

const who = (technician: { name: string; email: string }) =>
  sanitizeForTerminal(technician.name ? `${technician.name} <${technician.email}>` : technician.email, 300)

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`

/** Every string that came from the other side is sanitized again: a log file may have been edited. */
export function describeHostActivity(activity: HostActivity): string {
  const safe = (text: string) => sanitizeForTerminal(text, 500)
  switch (activity.event) {
    case 'consent-request':
      return `${safe(activity.technician)} asked to ${safe(activity.summary)}${activity.detail ? `: ${safe(activity.detail)}` : ''}`
    case 'consent-decision':
      return `${activity.permission} ${decisionText[activity.decision]}${activity.folder ? ` (${safe(activity.folder)})` : ''}${decidedByText[activity.by]}`
    case 'channel-open':
      return `${activity.kind} channel ${activity.channel} opened${activity.command ? `: ${safe(activity.command)}` : ''}`
    case 'channel-close': {
      const status = activity.exitCode === undefined ? '' : `, exit status ${activity.exitCode}`
      const signal = activity.signal ? `, killed by ${safe(activity.signal)}` : ''
      return `${activity.kind} channel ${activity.channel} closed${status}${signal}`
    }
    case 'grants-revoked':
      return `all grants revoked, ${plural(activity.closedChannels, 'channel')} closed`
    case 'control-taken-back':
      return `the end user took control of the shared terminal back, ${plural(activity.closedChannels, 'control channel')} closed`
    case 'stopped-watching':
      return `the end user stopped watching the technician's terminal (channel ${activity.channel})`
    case 'refused':
      return `refused without asking (the host has no prompt for it): ${safe(activity.request)}`
    case 'env':
      return `environment variable passed on: ${safe(activity.name)}=${safe(activity.value)}`
    case 'file-transfer': {
      const what = activity.direction === 'to-host' ? 'received' : 'sent'
      const state = activity.complete ? '' : ' (incomplete)'
      return `file ${what}${state}: ${safe(activity.path)}, ${activity.bytes} bytes, SHA-256 ${safe(activity.sha256)}`
    }
    case 'file-progress': {
      const what = activity.direction === 'to-host' ? 'receiving' : 'sending'
      const of = activity.total !== undefined ? ` of ${activity.total}` : ''
      return `${what} ${safe(activity.path)}: ${activity.bytes}${of} bytes`
    }
    case 'chat':
      return `chat from the ${activity.from === 'host' ? 'end user' : 'technician'}: ${safe(activity.text)}`
    case 'auto-approve':
      return `auto-approved: ${activity.permissions.length > 0 ? activity.permissions.join(', ') : 'nothing'}`
    case 'reboot-scheduled':
      return `restarting this computer (${safe(activity.command)}); after the restart run rescue host --resume (the sealed resume ticket is ${safe(activity.ticket)}; the session is held for ${Math.round(activity.graceMs / 60_000)} min)`
    case 'session-rejoined':
      return `back after the restart: rejoined the session of ${safe(activity.technician)}; nothing allowed before carries over`
    case 'words-asked':
      return `asked the end user whether ${activity.technician ? safe(activity.technician) : 'the technician'} reads the same security words: ${safe(activity.sas)}`
    case 'words-confirmed':
      return `the end user confirmed the security words${activity.technician ? ` of ${safe(activity.technician)}` : ''}`
    case 'words-rejected':
      return activity.by === 'end-user'
        ? `the end user said the security words${activity.technician ? ` of ${safe(activity.technician)}` : ''} did not match`
        : `the end user did not confirm the security words${activity.technician ? ` of ${safe(activity.technician)}` : ''} in time`
    case 'technician-invited':
      return `${who(activity.by)} invited ${who(activity.technician)}`
    case 'technician-joined':
      return `${who(activity.technician)} (invited) paired: security words ${safe(activity.sas)}`
    case 'technician-removed':
      return `the end user removed ${who(activity.technician)}`
    case 'technician-left':
      return `${who(activity.technician)} left: ${safe(activity.reason)}`
    case 'lead-changed':
      return `${who(activity.to)} now leads the session`
    case 'invitation-refused':
      return `refused an invitation of ${who(activity.technician)}: ${safe(activity.reason)}`
    case 'trust-gateway':
      return `warning: ${trustGatewayWarning(activity.permissions)}`
    case 'recording':
      return activity.state === 'started'
        ? `the technician records this session's shells and commands${activity.input ? ', keystrokes included' : ''}${activity.required ? ' (their organisation requires it)' : ''}`
        : `the technician's recording stopped: ${safe(activity.reason ?? 'no reason given')}${activity.required ? '; shells and commands were closed, as their organisation requires' : ''}`
  }
}
