/**
 * A technician invited into the end user's session (`rescue invite`). The gateway must not be
 * able to add anyone unseen, so the host pairs with them afresh, in a session of their own: a new
 * sealed pairing with its own security words, which the end user confirms with that technician
 * before anything of theirs is shown; then their own consent broker (nothing the lead was allowed
 * carries over) and their own SSH server on the same shared terminal. The audit log is the host's,
 * each line under the invited technician's session id. Removing them closes that session for
 * good: the gateway refuses their way back (resume or take). Imports core only.
 */
import type { TechnicianIdentity } from '../accounts/index.js'
import type { AuditLog } from '../audit/index.js'
import type { Decision, Permission } from '../consent/index.js'
import { CloseCode, WORDS_MISMATCH, WORDS_UNCONFIRMED } from '../protocol/control-messages.js'
import { startSession, type InvitationNews, type Session, type SessionEnded } from '../session/index.js'
import type { SharedTerminal } from '../share/index.js'
import { HostSshServer, recordingRule } from '../ssh/host-server.js'
import type { SshKeyPair } from '../ssh/keys.js'
import type { HostActivity } from './events.js'
import { GatedConsentBroker, WordsGate } from './words.js'

export interface InvitedSeatOptions {
  server: string
  invitation: Extract<InvitationNews, { event: 'invited' }>
  /** The session the technician was invited into, for the audit log. */
  invitedInto: string
  audit: AuditLog
  keys: SshKeyPair
  share?: SharedTerminal
  consentTimeoutMs?: number
  resumeGraceMs?: number
  wordsTimeoutMs: number
  /** What the view shows: this technician's activities (their words, requests, channels) and their coming and going. */
  onActivity(activity: HostActivity): void
  /** Reports for the gateway's log of the invited technician's session. */
  report: (session: Session, activity: HostActivity) => void
}

export interface InvitedSeat {
  readonly technician: TechnicianIdentity
  readonly sessionId: string
  /** True while the end user has not said whether this technician's words match. */
  readonly wordsPending: boolean
  confirmWords(match: boolean): void
  answer(id: string, decision: Decision): void
  revoke(): void
  takeControlBack(): void
  /** The end user removes this technician: their session closes, and they may not come back. */
  remove(): void
  /** The end user's session is over: this one goes with it. */
  end(reason: string): void
  done: Promise<SessionEnded>
}

/** Joins the invited technician's session; rejects when the gateway refuses (the invitation ended). */
export async function startInvitedSeat(options: InvitedSeatOptions): Promise<InvitedSeat> {
  const { audit, invitation } = options
  const technician = invitation.to
  const sessionId = invitation.sessionId
  const words = new WordsGate(true)
  let paired = false
  let wordsTimer: NodeJS.Timeout | undefined
  let broker: GatedConsentBroker | undefined
  let ssh: HostSshServer | undefined
  let policy: Permission[] = []
  let recording: 'off' | 'required' | 'required-input' = 'off'
  let removed = false
  let session: Session | undefined = undefined

  const onActivity = (activity: HostActivity) => {
    if (activity.event !== 'file-progress' && activity.event !== 'words-asked') {
      audit.record({ ...activity, session: sessionId })
    }
    if (session) options.report(session, activity)
    options.onActivity(activity)
  }
  const wordsRejected = (by: 'end-user' | 'timeout') => {
    if (!words.reject()) return
    clearTimeout(wordsTimer)
    onActivity({ event: 'words-rejected', by, technician: technician.email })
    session?.end({
      reason: by === 'end-user' ? WORDS_MISMATCH : WORDS_UNCONFIRMED,
      code: 'pairingFailed',
      closeCode: by === 'end-user' ? CloseCode.wordsMismatch : CloseCode.wordsUnconfirmed,
    })
  }

  session = await startSession({
    server: options.server,
    entry: { invitation: invitation.secret },
    role: 'host',
    sshPublicKey: options.keys.publicKey,
    ...(options.resumeGraceMs !== undefined ? { resumeGraceMs: options.resumeGraceMs } : {}),
    // An invited technician's seat stays on the relay: its port and refusals would have no place
    // in this seat's view and log yet.
    direct: 'refuse',
    onEvent(event) {
      if (event.event === 'paired') {
        paired = true
        policy = event.policy?.permissions ?? []
        recording = event.policy?.recording ?? 'off'
        audit.record({
          event: 'session-start',
          session: sessionId,
          server: options.server,
          technician: event.technician ?? technician,
          sas: event.sas,
          invitedInto: options.invitedInto,
          invitedBy: invitation.by,
        })
        options.onActivity({ event: 'technician-joined', technician, sas: event.sas })
        wordsTimer = setTimeout(() => wordsRejected('timeout'), options.wordsTimeoutMs)
        const deadline = new Date(Date.now() + options.wordsTimeoutMs).toISOString()
        options.onActivity({ event: 'words-asked', sas: event.sas, deadline, technician: technician.email })
      }
      if (event.event === 'link-lost') {
        audit.record({ event: 'link-lost', session: sessionId, side: event.side, graceMs: event.graceMs })
      }
      if (event.event === 'link-restored') {
        audit.record({ event: 'link-restored', session: sessionId, side: event.side, downMs: event.downMs })
      }
      if (event.event === 'ended') {
        clearTimeout(wordsTimer)
        words.reject()
        try {
          broker?.end()
          ssh?.close()
        } finally {
          audit.record({ ...event, event: 'session-end', session: sessionId })
          // Who left, and why, on record under their session as on the end user's screen.
          onActivity({
            event: 'technician-left',
            technician,
            removed,
            reason: removed ? 'the end user removed them' : event.reason,
          })
        }
      }
    },
    onSecured({ transport, peerSshKey }) {
      const gate = words
      broker = new GatedConsentBroker(
        {
          technician: technician.name || technician.email,
          interactive: true,
          // Pre-approvals were for whoever the end user let in with their PIN, never for someone invited later.
          autoApprove: [],
          policy,
          ...(options.consentTimeoutMs !== undefined ? { timeoutMs: options.consentTimeoutMs } : {}),
          onActivity,
        },
        gate,
      )
      ssh = new HostSshServer({
        transport,
        hostKey: options.keys.privateKey,
        technicianKey: peerSshKey,
        broker,
        onActivity,
        onFailure: (reason) => session?.end({ reason, code: 'pairingFailed' }),
        words: gate.outcome,
        sessionId,
        recording: recordingRule(recording, policy),
        ...(options.share ? { share: options.share } : {}),
      })
    },
  })
  const started = session

  return {
    technician,
    sessionId,
    get wordsPending() {
      return words.pending && paired
    },
    confirmWords(match) {
      if (!match) return wordsRejected('end-user')
      if (words.confirm()) {
        clearTimeout(wordsTimer)
        onActivity({ event: 'words-confirmed', by: 'end-user', technician: technician.email })
      }
    },
    answer: (id, decision) => broker?.answer(id, decision),
    revoke() {
      broker?.revoke()
      ssh?.closeAllChannels()
    },
    takeControlBack() {
      broker?.forget('control')
      ssh?.takeControlBack()
    },
    remove() {
      if (removed) return
      removed = true
      onActivity({ event: 'technician-removed', technician })
      started.end({ reason: 'the end user removed you from the session', closeCode: CloseCode.removed })
    },
    end: (reason) => started.end({ reason }),
    done: started.done,
  }
}
