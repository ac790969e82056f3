/**
 * The end user's side of a session: pairs, then serves SSH to the technician with every channel
 * request behind the consent broker, writes everything to the host's audit log, and lets the end
 * user answer prompts, revoke every grant, or end the session. Reports typed events; renders
 * nothing. Imports core only.
 */
import { AuditLog } from '../audit/index.js'
import { DEFAULT_CONSENT_TIMEOUT_MS, type Decision, type Permission } from '../consent/index.js'
import type { ErrorCode } from '../errors.js'
import { CloseCode, WORDS_MISMATCH, WORDS_UNCONFIRMED } from '../protocol/control-messages.js'
import {
  startSession,
  type Session,
  type SessionEnded,
  type SessionEvent,
  type SessionReport,
} from '../session/index.js'
import { generateSshKeyPair } from '../ssh/keys.js'
import { HostSshServer, recordingRule } from '../ssh/host-server.js'
import { MAX_CHAT_TEXT } from '../chat/index.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { UserError } from '../errors.js'
import type { TrustAnchor } from '../trust/index.js'
import type { HostActivity } from './events.js'
import type { SharedTerminal } from '../share/index.js'
import type { PresentStage } from '../present/index.js'
import { GatedConsentBroker, WordsGate } from './words.js'
import { rebootCommand, runRebootCommand } from '../reboot/index.js'
import { TICKET_LIFETIME_MS, writeTicket, type ResumeTicket } from '../reboot/ticket.js'
import { parsePeerPublicKey, publicKeyOf } from '../ssh/keys.js'
import type { VerifiedTechnician } from '../trust/index.js'
import { startInvitedSeat, type InvitedSeat } from './invited.js'
import type { DirectMode, InvitationNews } from '../session/index.js'
import type { DirectCandidate } from '../transport/direct-link.js'

export type { HostActivity } from './events.js'
export type HostEvent = SessionEvent | HostActivity

export interface HostOptions {
  server: string
  /** How the end user comes in: with the technician's PIN, or into a group's shared queue. */
  entry: { pin: string } | { channelSecret: string } | { resume: string }
  /**
   * After a restart (`rescue host --resume`): the opened resume ticket. The host comes back into
   * that session instead of `entry`; the end user has confirmed it already (words confirmed).
   */
  resume?: ResumeTicket
  /** True when the end user sits at a terminal that can answer consent prompts. */
  interactive: boolean
  /** Permissions granted up front, for unattended use (`--auto-approve`). */
  autoApprove: readonly Permission[]
  /**
   * True when the end user must confirm the security words before any request is shown or
   * granted (see words.ts): every attended host. False only for a host nobody watches, which must
   * rest on something else (`--auto-approve` alone today).
   */
  confirmWords: boolean
  /** Organisation keys (`--trust`): only a technician certified by one of them is let in. */
  trust?: readonly TrustAnchor[]
  /** `--trust-gateway`: auto-approve on the gateway's word alone, warned on screen and in the log. */
  trustGateway?: boolean
  consentTimeoutMs?: number
  /** How long a dropped link may take to come back before the session ends. */
  resumeGraceMs?: number
  /** `--direct` / `--no-direct`: whether to try a direct link with the technician (session/direct.ts). */
  direct?: DirectMode
  /** The addresses offered for a direct link, given the port (SessionOptions.directCandidates). */
  directCandidates?: (port: number) => DirectCandidate[]
  /** How long the end user has to confirm the words; twice the consent timeout unless given. */
  wordsTimeoutMs?: number
  /** The audit log file; the default is under XDG_STATE_HOME. */
  auditFile?: string
  /** The computer's name, for the gateway's reports, when the end user chose to send it. */
  hostName?: string
  /** The end user's shared terminal (`--share`), which technicians may ask to watch (`view`) and type in (`control`). */
  share?: SharedTerminal
  /** The end user's screen, where the technician may show their own terminal (`rescue present`). */
  stage?: PresentStage
  onEvent(event: HostEvent): void
}

export interface HostSession {
  /**
   * The end user's answer to "do the words match?": yes lets requests through, no ends the session
   * (or, for an invited `technician`'s words, lets them in or not).
   */
  confirmWords(match: boolean, technician?: string): void
  /** The end user's answer to a consent prompt. */
  answer(id: string, decision: Decision): void
  /** Closes every open channel at once and forgets every grant made for the session. */
  revoke(): void
  /** Takes control of the shared terminal back at once; the technician keeps watching. */
  takeControlBack(): void
  /** Sends a chat line to the technician; false when no chat is open on their side. */
  chat(text: string): boolean
  /**
   * Once the session is over: the restart command's run when the end user allowed a restart
   * (rejects when it failed), undefined otherwise.
   */
  restart(): Promise<void> | undefined
  /** Removes an invited technician (by email): their session closes, and they may not come back. */
  remove(email: string): boolean
  /** Ends the session for both sides; `why` is this side's account of it (Ctrl-C's exit code). */
  end(why?: { reason: string; code?: ErrorCode }): void
  done: Promise<SessionEnded>
}

/** Starts the host side; rejects with a UserError when the gateway refuses or the audit log cannot be written. */
export async function startHost(options: HostOptions): Promise<HostSession> {
  checkUnattendedTrust(options)
  // Opened first: a host that cannot keep its log does not let anyone in.
  const { resume } = options
  const audit = AuditLog.open(options.auditFile ?? resume?.auditFile)
  // Back from a restart, the same host key: the technician's client accepts no other.
  const keys = resume
    ? { privateKey: resume.hostKey, publicKey: publicKeyOf(resume.hostKey) }
    : generateSshKeyPair()
  const technicianKey = resume && parsePeerPublicKey(resume.technicianKey)
  if (resume && !technicianKey) {
    audit.close()
    throw new UserError('failure', 'the resume ticket holds no usable technician key')
  }
  let sessionId = resume?.sessionId ?? ''
  let broker: GatedConsentBroker | undefined
  // Closed until the end user confirms the words of this pairing; a new pairing brings a new gate.
  let words = new WordsGate(options.confirmWords)
  // The end user confirmed rejoining this technician before the host connected.
  if (resume) words.confirm()
  let wordsTimer: NodeJS.Timeout | undefined
  const wordsTimeoutMs =
    options.wordsTimeoutMs ?? 2 * (options.consentTimeoutMs ?? DEFAULT_CONSENT_TIMEOUT_MS)
  let ssh: HostSshServer | undefined
  let technician = resume?.technician.email ?? ''
  let policy: Permission[] = resume?.policy.permissions ?? []
  let recording: 'off' | 'required' | 'required-input' = resume?.policy.recording ?? 'off'
  let warned = false
  // What a resume ticket must keep of this pairing, learnt as it goes (see reboot/ticket.ts).
  let paired: {
    technician: { name: string; email: string; organisation: string }
    sas: string
    verified?: VerifiedTechnician
  } = resume
    ? {
        technician: resume.technician,
        sas: resume.sas,
        ...(resume.verified ? { verified: resume.verified } : {}),
      }
    : { technician: { name: '', email: '', organisation: '' }, sas: '' }
  let secured: { resumeKey: Uint8Array; technicianKey: string } | undefined

  let session: Session | undefined
  /** Technicians invited into the session (invited.ts), in the order their words were asked. */
  const seats: InvitedSeat[] = []
  /** Invitations whose session is being joined (not yet a seat). */
  let joiningSeats = 0
  /** Who leads the session (by email): the session's own technician until the lead is handed over. */
  let lead: string | undefined
  /** The session's own technician left while invited ones went on. */
  let firstLeft = false
  /** Nobody is left to help: the session ends for the end user too. */
  const endIfAlone = () => {
    if (firstLeft && seats.length === 0 && joiningSeats === 0) {
      session?.end({ reason: 'every technician has left the session' })
    }
  }
  const onInvitation = (news: InvitationNews) => {
    if (news.event === 'lead') {
      lead = news.to.email
      return onActivity({ event: 'lead-changed', to: news.to })
    }
    if (news.event === 'left') {
      // Their seat ends here (nothing they were allowed stays); the invited ones go on.
      firstLeft = true
      closeGate()
      broker?.end()
      ssh?.close()
      broker = undefined
      ssh = undefined
      onActivity({
        event: 'technician-left',
        technician: news.technician,
        removed: false,
        reason: news.reason,
        first: true,
      })
      return endIfAlone()
    }
    onActivity({ event: 'technician-invited', technician: news.to, by: news.by })
    // Nobody at the keyboard to compare their words and let them in: an invitation is refused unasked.
    if (!options.confirmWords) {
      return onActivity({
        event: 'invitation-refused',
        technician: news.to,
        reason: 'nobody is at this computer to let them in',
      })
    }
    joiningSeats++
    startInvitedSeat({
      server: options.server,
      invitation: news,
      invitedInto: sessionId,
      audit,
      keys,
      ...(options.share ? { share: options.share } : {}),
      ...(options.consentTimeoutMs !== undefined ? { consentTimeoutMs: options.consentTimeoutMs } : {}),
      ...(options.resumeGraceMs !== undefined ? { resumeGraceMs: options.resumeGraceMs } : {}),
      wordsTimeoutMs,
      onActivity: options.onEvent,
      report(invited, activity) {
        const report = reportFor(activity)
        if (report) invited.report(report)
      },
    }).then(
      (seat) => {
        joiningSeats--
        seats.push(seat)
        void seat.done.then((ended) => {
          seats.splice(seats.indexOf(seat), 1)
          // The lead left without handing the lead over: the session ends for everyone (the gateway
          // ends it too when it holds both sessions; this covers one that holds only theirs).
          if (ended.by === 'technician' && !ended.code && seat.technician.email === lead) {
            return session?.end({ reason: `the lead technician ${lead} ended the session` })
          }
          endIfAlone()
        })
      },
      (error: unknown) => {
        joiningSeats--
        onActivity({
          event: 'invitation-refused',
          technician: news.to,
          reason: String((error as Error).message),
        })
        endIfAlone()
      },
    )
  }
  const onActivity = (activity: HostActivity) => {
    if (activity.event !== 'file-progress' && activity.event !== 'words-asked') {
      audit.record({ ...activity, session: sessionId })
    }
    const report = reportFor(activity)
    if (report) session?.report(report)
    options.onEvent(activity)
  }
  const closeGate = () => {
    clearTimeout(wordsTimer)
    words.reject()
  }
  /** The words differ (the end user said so) or nobody confirmed them: the session ends, saying why. */
  const wordsRejected = (by: 'end-user' | 'timeout') => {
    if (!words.reject()) return
    clearTimeout(wordsTimer)
    onActivity({ event: 'words-rejected', by })
    session?.end({
      reason: by === 'end-user' ? WORDS_MISMATCH : WORDS_UNCONFIRMED,
      code: 'pairingFailed',
      closeCode: by === 'end-user' ? CloseCode.wordsMismatch : CloseCode.wordsUnconfirmed,
    })
  }

  try {
    session = await startSession({
      server: options.server,
      entry: options.entry,
      role: 'host',
      sshPublicKey: keys.publicKey,
      ...(resume && technicianKey
        ? {
            restart: {
              sessionId: resume.sessionId,
              resumeKey: new Uint8Array(Buffer.from(resume.resumeKey, 'base64')),
              peerSshKey: technicianKey,
            },
          }
        : {}),
      ...(options.resumeGraceMs !== undefined ? { resumeGraceMs: options.resumeGraceMs } : {}),
      ...(options.trust?.length ? { trust: options.trust } : {}),
      ...(options.direct ? { direct: options.direct } : {}),
      ...(options.directCandidates ? { directCandidates: options.directCandidates } : {}),
      onInvitation: (news) => onInvitation(news),
      onEvent(event) {
        if (event.event === 'waiting') {
          sessionId = event.sessionId
          if (!warned && options.trustGateway && options.autoApprove.length > 0) {
            warned = true
            onActivity({ event: 'trust-gateway', permissions: [...options.autoApprove] })
          }
        }
        if (event.event === 'paired') {
          if (options.hostName) session?.report({ event: 'host-name', name: options.hostName.slice(0, 255) })
          closeGate()
          words = new WordsGate(options.confirmWords)
          sessionId = event.sessionId
          technician = event.technician?.email ?? 'the technician'
          lead = event.technician?.email
          policy = event.policy?.permissions ?? []
          recording = event.policy?.recording ?? 'off'
          paired = {
            technician: event.technician ?? { name: '', email: '', organisation: '' },
            sas: event.sas,
            ...(event.verified ? { verified: event.verified } : {}),
          }
          audit.record({
            event: 'session-start',
            session: sessionId,
            server: options.server,
            technician: event.technician ?? { name: '', email: '', organisation: '' },
            sas: event.sas,
            ...(event.verified ? { verified: event.verified } : {}),
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
        if (event.event === 'link-lost') {
          audit.record({ event: 'link-lost', session: sessionId, side: event.side, graceMs: event.graceMs })
        }
        if (event.event === 'link-restored') {
          audit.record({ event: 'link-restored', session: sessionId, side: event.side, downMs: event.downMs })
        }
        if (event.event === 'link-direct')
          audit.record({ event: 'link-direct', session: sessionId, peer: event.peer })
        if (event.event === 'link-relay')
          audit.record({ event: 'link-relay', session: sessionId, reason: event.reason })
        if (event.event === 'direct-refused') {
          audit.record({
            event: 'direct-refused',
            session: sessionId,
            from: event.from,
            reason: event.reason,
          })
        }
        if (event.event === 'transferred' || event.event === 'ended') closeGate()
        if (event.event === 'ended') {
          try {
            for (const seat of seats) seat.end(`the session you were invited into ended: ${event.reason}`)
            broker?.end()
            ssh?.close()
          } finally {
            // The end of a session is always on record, whatever went wrong closing it.
            if (sessionId) audit.record({ ...event, event: 'session-end', session: sessionId })
            audit.close()
          }
        }
        if (event.event === 'restarted' && resume) {
          // The view shows whom this is with, as when they paired; the words were confirmed before.
          options.onEvent({
            event: 'paired',
            role: 'host',
            sessionId,
            sas: resume.sas,
            technician: resume.technician,
            ...(resume.verified ? { verified: resume.verified } : {}),
            policy: resume.policy,
          })
          onActivity({ event: 'session-rejoined', technician: resume.technician.email })
        }
        options.onEvent(event)
        // Asked only once the identity and the words are on the end user's screen (`paired`).
        if (event.event === 'paired' && words.pending) {
          wordsTimer = setTimeout(() => wordsRejected('timeout'), wordsTimeoutMs)
          const deadline = new Date(Date.now() + wordsTimeoutMs).toISOString()
          options.onEvent({ event: 'words-asked', sas: event.sas, deadline })
        }
      },
      onSecured({ transport, peerSshKey, resumeKey }) {
        const gate = words
        secured = {
          resumeKey,
          technicianKey: `${peerSshKey.type} ${peerSshKey.getPublicSSH().toString('base64')}`,
        }
        broker = new GatedConsentBroker(
          {
            technician,
            interactive: options.interactive,
            autoApprove: options.autoApprove,
            policy,
            ...(options.consentTimeoutMs !== undefined ? { timeoutMs: options.consentTimeoutMs } : {}),
            onActivity,
          },
          gate,
        )
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
          words: gate.outcome,
          sessionId,
          recording: recordingRule(recording, policy),
          ...(options.share ? { share: options.share } : {}),
          reboot: { prepare: prepareReboot, go: reboot },
          ...(options.stage ? { stage: options.stage, technician } : {}),
        })
      },
    })
  } catch (error) {
    audit.close()
    throw error
  }
  const started = session

  /** The end user allowed a restart: the sealed ticket first, so nothing is left to chance after. */
  let rebootGraceMs = TICKET_LIFETIME_MS
  function prepareReboot(): { graceMs: number } {
    if (!secured || !sessionId) throw new Error('the session is not secured yet')
    const { file } = writeTicket({
      sessionId,
      server: options.server,
      resumeKey: Buffer.from(secured.resumeKey).toString('base64'),
      hostKey: keys.privateKey,
      technicianKey: secured.technicianKey,
      ...paired,
      policy: { permissions: policy, recording },
      ...(options.auditFile ? { auditFile: options.auditFile } : {}),
    })
    rebootGraceMs = TICKET_LIFETIME_MS
    const [command, args] = rebootCommand()
    onActivity({
      event: 'reboot-scheduled',
      ticket: file,
      graceMs: rebootGraceMs,
      command: [command, ...args].join(' '),
    })
    return { graceMs: rebootGraceMs }
  }
  /** Leaves the session for the gateway to hold, then restarts (once the gateway has been told). */
  let restarted: Promise<void> | undefined
  function reboot(): void {
    started.restart(rebootGraceMs, 'restarting this computer; after the restart run rescue host --resume')
    restarted = started.done.then(() => runRebootCommand())
  }

  return {
    confirmWords(match, technician) {
      // The words on screen: an invited technician's when named, else the first still unanswered
      // (the session's own, then each invited technician's in turn).
      const invited =
        !words.pending &&
        seats.find((seat) => seat.wordsPending && (!technician || seat.technician.email === technician))
      if (invited) return invited.confirmWords(match)
      // Theirs were answered meanwhile (or ran out of time): the answer was not about the session's own.
      if (technician) return
      if (!match) return wordsRejected('end-user')
      if (words.confirm()) {
        clearTimeout(wordsTimer)
        onActivity({ event: 'words-confirmed', by: 'end-user' })
      }
    },
    answer(id, decision) {
      broker?.answer(id, decision)
      for (const seat of seats) seat.answer(id, decision)
    },
    revoke() {
      for (const seat of seats) seat.revoke()
      broker?.revoke()
      const closedChannels = ssh?.closeAllChannels() ?? 0
      onActivity({ event: 'grants-revoked', closedChannels })
    },
    takeControlBack() {
      for (const seat of seats) seat.takeControlBack()
      broker?.forget('control')
      const closedChannels = ssh?.takeControlBack() ?? 0
      onActivity({ event: 'control-taken-back', closedChannels })
    },
    chat(text) {
      const sent = ssh?.sendChat(text)
      if (sent) onActivity({ event: 'chat', ...sent, text: sanitizeForTerminal(sent.text, MAX_CHAT_TEXT) })
      return sent !== undefined
    },
    remove(email) {
      const seat = seats.find((candidate) => candidate.technician.email === email)
      seat?.remove()
      return seat !== undefined
    },
    end: (why) => started.end(why),
    done: started.done,
    restart: () => restarted,
  }
}

/**
 * Nobody at the keyboard checks the security words of an auto-approving host, so something else
 * must stand for the technician: an organisation key (`--trust`), or the operator's explicit word
 * that the gateway's is enough (`--trust-gateway`).
 */
export function checkUnattendedTrust(
  options: Pick<HostOptions, 'autoApprove' | 'trust' | 'trustGateway'>,
): void {
  if (options.autoApprove.length === 0 || options.trust?.length || options.trustGateway) return
  throw new UserError(
    'usage',
    '--auto-approve needs --trust KEY or --trust-file FILE: with nobody at the keyboard to compare the security words, a gateway in the middle could run what you approve',
    "give your organisation's key (rescue admin ca init prints it), or add --trust-gateway to rely on the gateway alone",
  )
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
      const { event, direction, path, bytes, sha256, complete, from } = activity
      return { event, direction, path, bytes, sha256, complete, ...(from !== undefined ? { from } : {}) }
    }
    case 'chat':
      return { event: 'chat', from: activity.from, text: activity.text }
    case 'words-confirmed':
    case 'words-rejected':
      return { event: activity.event, by: activity.by }
    default:
      return undefined
  }
}
