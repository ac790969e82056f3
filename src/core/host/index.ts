/**
 * The end user's side of a session: pairs, then serves SSH to the technician with every channel
 * request behind the consent broker, writes everything to the host's audit log, and lets the end
 * user answer prompts, revoke every grant, or end the session. Reports typed events; renders
 * nothing. Imports core only.
 */
import { AuditLog } from '../audit/index.js'
import type { ErrorCode } from '../errors.js'
import { ConsentBroker, type Decision, type Permission } from '../consent/index.js'
import {
  startSession,
  type Session,
  type SessionEnded,
  type SessionEvent,
  type SessionReport,
} from '../session/index.js'
import { generateSshKeyPair } from '../ssh/keys.js'
import { HostSshServer } from '../ssh/host-server.js'
import { MAX_CHAT_TEXT } from '../chat/index.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import type { HostActivity } from './events.js'

export type { HostActivity } from './events.js'
export type HostEvent = SessionEvent | HostActivity

export interface HostOptions {
  server: string
  /** How the end user comes in: with the technician's PIN, or into a group's shared queue. */
  entry: { pin: string } | { channel: string }
  /** True when the end user sits at a terminal that can answer consent prompts. */
  interactive: boolean
  /** Permissions granted up front, for unattended use (`--auto-approve`). */
  autoApprove: readonly Permission[]
  consentTimeoutMs?: number
  /** The audit log file; the default is under XDG_STATE_HOME. */
  auditFile?: string
  onEvent(event: HostEvent): void
}

export interface HostSession {
  /** The end user's answer to a consent prompt. */
  answer(id: string, decision: Decision): void
  /** Closes every open channel at once and forgets every grant made for the session. */
  revoke(): void
  /** Sends a chat line to the technician; false when no chat is open on their side. */
  chat(text: string): boolean
  /** Ends the session for both sides; `why` is this side's account of it (Ctrl-C's exit code). */
  end(why?: { reason: string; code?: ErrorCode }): void
  done: Promise<SessionEnded>
}

/** Starts the host side; rejects with a UserError when the gateway refuses or the audit log cannot be written. */
export async function startHost(options: HostOptions): Promise<HostSession> {
  // Opened first: a host that cannot keep its log does not let anyone in.
  const audit = AuditLog.open(options.auditFile)
  const keys = generateSshKeyPair()
  let sessionId = ''
  let broker: ConsentBroker | undefined
  let ssh: HostSshServer | undefined
  let technician = ''
  let policy: Permission[] = []

  let session: Session | undefined
  const onActivity = (activity: HostActivity) => {
    if (activity.event !== 'file-progress') audit.record({ ...activity, session: sessionId })
    const report = reportFor(activity)
    if (report) session?.report(report)
    options.onEvent(activity)
  }

  try {
    session = await startSession({
      server: options.server,
      entry: options.entry,
      role: 'host',
      sshPublicKey: keys.publicKey,
      onEvent(event) {
        if (event.event === 'waiting') sessionId = event.sessionId
        if (event.event === 'paired') {
          sessionId = event.sessionId
          technician = event.technician?.email ?? 'the technician'
          policy = event.policy?.permissions ?? []
          audit.record({
            event: 'session-start',
            session: sessionId,
            server: options.server,
            technician: event.technician ?? { name: '', email: '', organisation: '' },
            sas: event.sas,
          })
        }
        if (event.event === 'transferred') {
          // Nothing the last technician was allowed carries over to the next.
          broker?.end()
          ssh?.close()
          broker = undefined
          ssh = undefined
          technician = ''
          policy = []
          audit.record({ event: 'session-transferred', session: sessionId, to: event.to })
        }
        if (event.event === 'ended') {
          try {
            broker?.end()
            ssh?.close()
          } finally {
            // The end of a session is always on record, whatever went wrong closing it.
            if (sessionId) audit.record({ ...event, event: 'session-end', session: sessionId })
            audit.close()
          }
        }
        options.onEvent(event)
      },
      onSecured({ transport, peerSshKey }) {
        broker = new ConsentBroker({
          technician,
          interactive: options.interactive,
          autoApprove: options.autoApprove,
          policy,
          ...(options.consentTimeoutMs !== undefined ? { timeoutMs: options.consentTimeoutMs } : {}),
          onActivity,
        })
        if (options.autoApprove.length > 0) {
          onActivity({ event: 'auto-approve', permissions: [...options.autoApprove] })
        }
        ssh = new HostSshServer({
          transport,
          hostKey: keys.privateKey,
          technicianKey: peerSshKey,
          broker,
          onActivity,
          onFailure: (reason) => session?.end({ reason, code: 'pairingFailed' }),
        })
      },
    })
  } catch (error) {
    audit.close()
    throw error
  }
  const started = session

  return {
    answer: (id, decision) => broker?.answer(id, decision),
    revoke() {
      broker?.revoke()
      const closedChannels = ssh?.closeAllChannels() ?? 0
      onActivity({ event: 'grants-revoked', closedChannels })
    },
    chat(text) {
      const sent = ssh?.sendChat(text)
      if (sent) onActivity({ event: 'chat', ...sent, text: sanitizeForTerminal(sent.text, MAX_CHAT_TEXT) })
      return sent !== undefined
    },
    end: (why) => started.end(why),
    done: started.done,
  }
}

/** What the gateway's session log gets of an activity: kinds, outcomes, files and chat; never commands. */
function reportFor(activity: HostActivity): SessionReport | undefined {
  switch (activity.event) {
    case 'consent-decision':
      return { event: 'consent-decision', kind: activity.permission, allowed: activity.decision !== 'deny' }
    case 'channel-open':
    case 'channel-close':
      return { event: activity.event, kind: activity.kind }
    case 'file-transfer': {
      const { event, direction, path, bytes, sha256, complete } = activity
      return { event, direction, path, bytes, sha256, complete }
    }
    case 'chat':
      return { event: 'chat', from: activity.from, text: activity.text }
    default:
      return undefined
  }
}
