/**
 * One side of a support session, from the gateway's upgrade to the end: waits to be paired, runs
 * the sealed pairing over the relayed stream, exchanges a sealed hello each way carrying each
 * side's SSH public key, then reports `paired` and hands SSH a resumable stream until either side
 * or the gateway ends it. When the link to the gateway drops, it reconnects on its own with a
 * proof only the paired side can make, and SSH above never notices (resumable-stream.ts); a drop
 * longer than the grace period ends the session. Reports typed events; renders nothing.
 */
import type { ParsedKey } from 'ssh2'
import type WebSocket from 'ws'
import { z } from 'zod'
import { FrameQueue } from './frame-queue.js'
import type { TechnicianIdentity } from '../accounts/index.js'
import { openGatewaySocket } from '../client/index.js'
import { UserError, type ErrorCode } from '../errors.js'
import {
  CloseCode,
  decodeControlMessage,
  roleName,
  roles,
  type EndedBy,
  type SessionPolicy,
  type SessionReportMessage,
  type Entry,
  type Role,
} from '../protocol/control-messages.js'

export type { SessionPolicy }
export type { DirectMode }
import {
  createHostHandshake,
  createTechnicianHandshake,
  openJson,
  PairingError,
  sealJson,
  type PairingResult,
  type SealedChannel,
} from '../pairing/index.js'
import { parsePeerPublicKey } from '../ssh/keys.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import {
  makeDeviceProof,
  TrustError,
  verifyDeviceProof,
  type DeviceCredential,
  type TrustAnchor,
  type VerifiedTechnician,
} from '../trust/index.js'
import { coalesceWrites, flushWrites, socketUnder } from '../transport/coalesce.js'
import {
  dialDirect,
  listenDirect,
  localCandidates,
  type DirectCandidate,
  type DirectLink,
  type DirectListener,
} from '../transport/direct-link.js'
import { RESUME as RESUME_FRAME, ResumableStream, type FrameLink } from '../transport/resumable-stream.js'
import { hostOffers, offerToDial, type DirectMode } from './direct.js'
import { resumeSigningKey, signResume } from '../transport/resume-proof.js'

export interface SessionEnded {
  event: 'ended'
  by: EndedBy
  reason: string
  /** Set when the session ended abnormally; the command exits with this code's status. */
  code?: ErrorCode
}

export type SessionEvent =
  | {
      event: 'waiting'
      role: Role
      sessionId: string
      /** When the wait ends: the PIN's expiry, or how long a shared queue keeps the end user. */
      expiresAt: string
      /** How this side came in: a PIN (when absent), a group's shared queue (`channel` names it), a queued session taken. */
      via?: 'pin' | 'channel' | 'queue'
      channel?: string
    }
  | {
      event: 'paired'
      role: Role
      sessionId: string
      sas: string
      technician?: TechnicianIdentity
      /** The host's, with `trust`: who the technician is, as the organisation's key says by signature. */
      verified?: VerifiedTechnician
      /** The host's: the permissions the gateway says the technician's groups allow. */
      policy?: SessionPolicy
    }
  /** The host's: the technician handed the session to `to`, who must pair afresh (a new SAS). */
  | { event: 'transferred'; role: Role; sessionId: string; to: TechnicianIdentity }
  /**
   * A link dropped: this side's own (it is reconnecting) or the peer's (the gateway waits for it).
   * `restarting`: the peer is the host, restarting its computer (`rescue reboot`).
   */
  | {
      event: 'link-lost'
      role: Role
      sessionId: string
      side: LinkSide
      graceMs: number
      restarting?: boolean
    }
  /** The host is back from a restart: a new stream and a new SSH over the same pairing's keys. */
  | { event: 'restarted'; role: Role; sessionId: string }
  /** Both links are up again; the stream went on where it was. */
  | { event: 'link-restored'; role: Role; sessionId: string; side: LinkSide; downMs: number }
  /**
   * The host's: it listens for a direct link on `port` (every interface) for 10 s, and offered
   * its addresses to the technician inside the sealed hello.
   */
  | { event: 'direct-offered'; role: Role; sessionId: string; port: number }
  /** The session's bytes now go straight to the peer at `peer` (address:port), not through the gateway. */
  | { event: 'link-direct'; role: Role; sessionId: string; peer: string }
  /** The session's bytes go through the gateway's relay: the direct link failed, or dropped. */
  | { event: 'link-relay'; role: Role; sessionId: string; reason: string }
  /** The host's: a connection on its direct port was refused (not the peer, a bad proof, one too many). */
  | { event: 'direct-refused'; role: Role; sessionId: string; from: string; reason: string }
  | SessionEnded

export type LinkSide = 'self' | 'peer'

/** What the gateway tells a host about other technicians of its session (SessionOptions.onInvitation). */
export type InvitationNews =
  | { event: 'invited'; sessionId: string; secret: string; to: TechnicianIdentity; by: TechnicianIdentity }
  | { event: 'lead'; to: TechnicianIdentity }
  /** The technician this session paired with left; the invited ones go on, and this link with them. */
  | { event: 'left'; technician: TechnicianIdentity; reason: string }

/** How long a dropped link may take to come back before the session ends. */
export const DEFAULT_RESUME_GRACE_MS = 60_000
/**
 * Reconnect attempts start this soon and back off to at most RECONNECT_MAX_MS between tries: short,
 * since a try that fails at once costs little and the link is back within that much of the network
 * (bench/load.ts: p99 1.7 s with 2 s, under 1 s with 500 ms). A try that hangs (a dead network) has
 * its own handshake timeout.
 */
const RECONNECT_FIRST_MS = 100
const RECONNECT_MAX_MS = 500
/**
 * A side that ends while its own link is down goes on reconnecting this long at most (within the
 * grace period), only to tell its peer it left: else the peer would wait out the grace period.
 */
export const LEAVE_WAIT_MS = 5000
/** Reports told while this side's link is down wait for it, up to this many; later ones are dropped. */
export const MAX_QUEUED_REPORTS = 1000
/**
 * The technician's, heard from the host over SSH (so the gateway cannot forge it): the end user is
 * asked whether the security words match (`words-waiting`), said yes (`words-confirmed`), or the
 * host has nobody at its keyboard to ask (`words-unchecked`: it runs on --auto-approve alone).
 */
export interface WordsEvent {
  event: 'words-waiting' | 'words-confirmed' | 'words-unchecked'
  role: Role
  sessionId: string
}

export interface SessionOptions {
  server: string
  /** How this side comes in: with a PIN, into a group's shared queue, or taking a queued session. */
  entry: Entry
  role: Role
  /** The technician's bearer token; the end user has none. */
  token?: string
  onEvent: (event: SessionEvent) => void
  /**
   * This side's SSH public key (`ssh-ed25519 ...`), sent to the peer inside the sealed channel; or
   * what makes it, called once the technician's pairing has begun, while the host works on it.
   */
  sshPublicKey: string | (() => string)
  /**
   * The host's: the lead invited another technician (who waits to pair in a session of their own,
   * joined with `secret`), or handed the lead over. Apart from `onEvent`, whose events are printed:
   * the secret must reach no screen or log.
   */
  onInvitation?: (news: InvitationNews) => void
  /** Called once, right after `paired`, with the stream SSH runs on and the peer's SSH key. */
  onSecured?: (link: SecuredLink) => void
  /** How long the peer may take over each pairing step. */
  pairingTimeoutMs?: number
  /** How long a dropped link may take to come back (the gateway may hold it for less). */
  resumeGraceMs?: number
  /** The technician's: its device certificate and key, to prove itself in the sealed hello. */
  device?: DeviceCredential
  /**
   * The host's: organisation keys it trusts. When set, a technician without a certificate signed
   * by one of them, and a proof bound to this pairing, is refused before SSH starts.
   */
  trust?: readonly TrustAnchor[]
  /**
   * The host's, after a restart (`rescue host --resume`): what its resume ticket kept of the
   * pairing. The session comes back with a resume proof instead of pairing, then starts a fresh
   * stream for a new SSH with the same keys.
   */
  restart?: RestartState
  /** Whether to try a direct TCP link to the peer (see session/direct.ts); `allow` unless given. */
  direct?: DirectMode
  /**
   * The host's: the addresses it offers for a direct link, given the port it listens on. Every
   * interface's unless given (tests offer a proxy of their own here, to cut the link).
   */
  directCandidates?: (port: number) => DirectCandidate[]
}

/** What a restarted host needs of its old pairing to rejoin it (see tools/reboot-ticket.ts). */
export interface RestartState {
  sessionId: string
  resumeKey: Uint8Array
  /** The technician's SSH key, as received in the sealed hello before the restart. */
  peerSshKey: ParsedKey
}

export interface SecuredLink {
  transport: ResumableStream
  /** The key the peer sent inside the sealed channel: the only one SSH may accept from it. */
  peerSshKey: ParsedKey
  /** The pairing's resume key: what a host keeps, sealed, across a restart (reboot/ticket.ts). */
  resumeKey: Uint8Array
}

export interface Session {
  /**
   * Ends the session for both sides; `done` resolves once the gateway has been told. `closeCode`
   * tells the gateway why, for the other side (see CloseCode).
   */
  end(reason?: { reason: string; code?: ErrorCode; closeCode?: number }): void
  /** Tells the gateway, for its session log, something that happened (never payload or output). */
  report(event: SessionReport): void
  /**
   * The host's: it is restarting its computer. The gateway is asked to hold the session `graceMs`
   * (within its own bound), then this side leaves, ending with `reason`.
   */
  restart(graceMs: number, reason: string): void
  done: Promise<SessionEnded>
}

/** What a side tells the gateway's session log (see control-messages.ts): never payload or output. */
export type SessionReport = SessionReportMessage extends infer M
  ? M extends SessionReportMessage
    ? Omit<M, 'type'>
    : never
  : never

/**
 * Version of what runs over the sealed channel and SSH; a peer speaking another one is refused.
 * 2: the host answers `words@rescue` (the end user's confirmation of the security words).
 * 3: the resumable stream's DATA+ACK frame (an ACK riding on data), which a 2 refuses mid-session.
 */
export const SESSION_PROTOCOL = 3

// The hello proves the channel both ways. It names nothing (no user, no host name): the two people
// may not have compared the SAS yet, and until they have, a man in the middle could read it.
// The technician's may add `device` (its certificate and a signature over this pairing), which
// names its email and organisation: what the gateway already knows from its account.
const hello = z.object({
  type: z.literal('hello'),
  role: z.enum(roles),
  protocol: z.number(),
  sshKey: z.string().max(1000),
  device: z.unknown().optional(),
  /** The technician's wish (`ask` or `allow`), the host's offer (session/direct.ts). */
  direct: z.unknown().optional(),
})

/** The host's answer, instead of its hello, to a technician it does not trust: then it closes. */
const refused = z.object({ type: z.literal('refused'), reason: z.string().max(1000) })

const clean = (text: string) => sanitizeForTerminal(text, 200)
const cleanIdentity = (who: TechnicianIdentity): TechnicianIdentity => ({
  name: clean(who.name),
  email: clean(who.email),
  organisation: clean(who.organisation),
})

/** Connects to the gateway; rejects with a UserError when it refuses (wrong PIN, no token, ...). */
export async function startSession(options: SessionOptions): Promise<Session> {
  const entry = options.restart ? { resume: options.restart.sessionId } : options.entry
  return openGatewaySocket({ ...options, entry }, (socket) => new SessionRun(socket, options).session)
}

class SessionRun {
  readonly session: Session
  private socket: WebSocket
  private frames = new FrameQueue()
  private channel?: SealedChannel
  private stream?: ResumableStream
  private sessionId = ''
  private resumeKey?: Uint8Array
  private heartbeatMs?: number
  /** When this side's or the peer's link dropped; unset while both are up. */
  private lostAt?: number
  private lostSide?: LinkSide
  /**
   * This side's own link: `down` from its drop until it answers a resume challenge (`proving`: the
   * gateway has it back once the proof checks out) and `up` again once both sides are back.
   */
  private ownLink: 'up' | 'down' | 'proving' = 'up'
  /** Reports told while the link was down, sent as soon as the gateway has this side back. */
  private queuedReports: SessionReport[] = []
  /** Reports of this event-loop turn, sent together after it (see report()). */
  private pendingReports: SessionReport[] = []
  private reportTimer?: NodeJS.Immediate
  /** Set when this side ended while its link was down: it reconnects only to say so. */
  private leaving?: { closeCode: number; told: boolean; timer: NodeJS.Timeout }
  private pairing = false
  private technician?: TechnicianIdentity
  private policy?: SessionPolicy
  /** Why it ended, as first learnt: from the gateway, or from this side. */
  private outcome?: SessionEnded
  private finished = false
  private lastHeard = Date.now()
  private watchdog?: NodeJS.Timeout
  private resolveDone!: (ended: SessionEnded) => void
  /** The peer's SSH key from the sealed hello: a host back from a restart must present the same. */
  private peerSshKey?: ParsedKey
  /** The host's, coming back from a restart, until the gateway has taken it back. */
  private restarting = false
  /** The host's: its technician left (`left`); the link stays for news of the invited ones. */
  private technicianLeft = false
  /** Which link the stream's frames travel on: the gateway's relay, or the direct link. */
  private path: 'relay' | 'direct' = 'relay'
  private direct?: DirectLink
  private directListener?: DirectListener
  /** The link the stream was started or rejoined on, until that link is lost. */
  private streamLink?: FrameLink
  /** The link this side sent a RESUME on that the peer has not answered yet. */
  private awaitingResume?: FrameLink
  /** False when the gateway said relay only (`rescue server --no-direct`). */
  private gatewayAllowsDirect = true
  /** The peer's relay link is down: what is sent there meanwhile, the gateway drops. */
  private peerRelayDown = false

  constructor(
    socket: WebSocket,
    private readonly options: SessionOptions,
  ) {
    const done = new Promise<SessionEnded>((resolve) => (this.resolveDone = resolve))
    this.session = {
      end: (reason) => this.endLocally(reason),
      report: (event) => this.report(event),
      restart: (graceMs, reason) => this.restart(graceMs, reason),
      done,
    }
    this.socket = socket
    const { restart } = options
    if (restart) {
      // As if its own link had dropped: the gateway's challenge is answered with the ticket's key.
      this.restarting = true
      this.sessionId = restart.sessionId
      this.resumeKey = restart.resumeKey
      this.peerSshKey = restart.peerSshKey
      this.lostSide = 'self'
      this.lostAt = Date.now()
      this.ownLink = 'down'
      this.startWatchdog(5000)
    }
    this.bind(socket)
  }

  private get graceMs(): number {
    return this.options.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS
  }

  /** Listens on a gateway socket; events of a socket this side has since replaced are ignored. */
  private bind(socket: WebSocket): void {
    const current = () => socket === this.socket
    // An SSH packet and the reports it caused leave together (transport/coalesce.ts).
    const tcp = socketUnder(socket)
    if (tcp) coalesceWrites(tcp)
    socket.on('message', (data: Buffer, isBinary) => {
      if (!current()) return
      this.lastHeard = Date.now()
      if (!isBinary) this.onControl(data)
      else if (this.stream) this.onRelayFrame(data)
      else this.frames.push(new Uint8Array(data))
    })
    socket.on('ping', () => {
      if (current()) this.lastHeard = Date.now()
    })
    socket.on('error', () => socket.terminate())
    socket.on('close', () => {
      if (current()) this.onSocketClosed()
    })
  }

  private onSocketClosed(): void {
    if (this.finished) return
    if (this.restarting) {
      this.outcome ??= {
        event: 'ended',
        by: 'gateway',
        reason:
          'the gateway did not take this computer back into the session: the resume proof did not check out',
        code: 'failure',
      }
      return this.finish()
    }
    // A paired session whose link dropped without anyone ending it: come back, SSH is still there.
    if (this.stream && (!this.outcome || (this.leaving && !this.leaving.told))) return void this.reconnect()
    this.finish()
  }

  private onControl(data: Buffer): void {
    const message = decodeControlMessage(data)
    if (!message) return this.fail('the gateway sent a malformed control message', 'failure')
    switch (message.type) {
      case 'waiting':
        this.heartbeatMs = message.heartbeatMs
        this.startWatchdog(message.heartbeatMs)
        this.emit({
          event: 'waiting',
          role: this.options.role,
          sessionId: message.sessionId,
          expiresAt: message.expiresAt,
          via: message.via ?? 'pin',
          ...(message.channel ? { channel: clean(message.channel) } : {}),
        })
        break
      case 'paired':
        if (this.pairing) return this.fail('the gateway paired this session twice', 'failure')
        this.pairing = true
        this.technician = message.technician && {
          name: clean(message.technician.name),
          email: clean(message.technician.email),
          organisation: clean(message.technician.organisation),
        }
        // Without a policy the host could not enforce one: it does not go on.
        if (this.options.role === 'host' && !message.policy) {
          return this.fail('the gateway sent no permission policy for this technician', 'failure')
        }
        this.policy = message.policy
        this.gatewayAllowsDirect = message.direct !== false
        void this.pair(message.sessionId)
        break
      case 'transferred': {
        if (this.options.role !== 'host' || !this.pairing) {
          return this.fail('the gateway transferred a session it had not paired', 'failure')
        }
        const to = {
          name: clean(message.to.name),
          email: clean(message.to.email),
          organisation: clean(message.to.organisation),
        }
        // Told first, so the SSH server closes on purpose before its stream goes.
        this.emit({ event: 'transferred', role: 'host', sessionId: message.sessionId, to })
        // The old technician's SSH goes, with everything it held; the next one pairs from scratch.
        this.closeDirect()
        this.stream?.destroy()
        this.stream = undefined
        this.frames = new FrameQueue()
        this.pairing = false
        this.policy = undefined
        break
      }
      case 'invited':
      case 'lead':
      case 'left':
        // Only ever about a session this host has paired in; anything else is the gateway's mistake, ignored.
        if (this.options.role !== 'host' || !this.stream) return
        if (message.type === 'left') {
          if (this.technicianLeft) return
          this.technicianLeft = true
          this.options.onInvitation?.({
            event: 'left',
            technician: cleanIdentity(message.technician),
            reason: clean(message.reason),
          })
          // Their SSH sees its end; nothing more goes their way.
          this.closeDirect()
          this.stream.endOfStream()
          break
        }
        if (message.type === 'lead') {
          this.options.onInvitation?.({ event: 'lead', to: cleanIdentity(message.to) })
          break
        }
        this.options.onInvitation?.({
          event: 'invited',
          sessionId: message.sessionId,
          secret: message.secret,
          to: cleanIdentity(message.to),
          by: cleanIdentity(message.by),
        })
        break
      case 'peer-lost':
        if (!this.stream || this.technicianLeft) return
        this.peerRelayDown = true
        // On the direct link the stream goes on; only the gateway's messages wait for the peer.
        if (this.path === 'relay') this.streamLost()
        this.linkLost('peer', message.graceMs, message.restarting === true && message.role === 'host')
        break
      case 'resume-challenge': {
        if (!this.resumeKey || this.lostSide !== 'self') return
        const key = resumeSigningKey(this.resumeKey, this.options.role)
        const proof = signResume(key, this.sessionId, this.options.role, message.nonce)
        this.sendText({ type: 'resume', proof })
        // The gateway takes this side back as it checks the proof, before its next message: what
        // was reported meanwhile goes now (even if the peer is still away), then the leave if any.
        this.ownLink = 'proving'
        this.pendingReports.unshift(...this.queuedReports.splice(0))
        this.sendReports()
        if (this.leaving) {
          this.leaving.told = true
          const { socket } = this
          socket.close(this.leaving.closeCode)
          setTimeout(() => socket.terminate(), 2000).unref()
        }
        break
      }
      case 'resumed':
        if (message.sessionId !== this.sessionId || this.leaving) return
        if (message.restarted || this.restarting) return this.freshStream()
        if (!this.stream) return
        this.ownLink = 'up'
        this.peerRelayDown = false
        // Without a technician on this link, there is no stream to go on with: only the link is
        // back. On the direct link the stream never stopped; and a peer's RESUME that came first
        // has had this side's answer already (deliver()).
        if (!this.technicianLeft && this.path === 'relay' && this.streamLink !== this.socket) {
          this.rejoinOn(this.socket)
        }
        if (this.heartbeatMs) this.startWatchdog(this.heartbeatMs)
        if (this.lostAt !== undefined) {
          this.emit({
            event: 'link-restored',
            role: this.options.role,
            sessionId: this.sessionId,
            side: this.lostSide ?? 'peer',
            downMs: Date.now() - this.lostAt,
          })
        }
        this.lostAt = undefined
        this.lostSide = undefined
        break
      case 'ended':
        this.outcome ??= {
          event: 'ended',
          by: message.by,
          reason: clean(message.reason),
          ...(message.code ? { code: message.code } : {}),
        }
        break
    }
  }

  /** Runs the sealed pairing and hello exchange, then relays sealed frames for the session's life. */
  private async pair(sessionId: string): Promise<void> {
    const { role } = this.options
    const timeout = {
      ms: this.options.pairingTimeoutMs ?? 15_000,
      error: () =>
        new PairingError(
          'UNEXPECTED',
          `the ${roleName[role === 'host' ? 'technician' : 'host']} did not answer in time`,
        ),
    }
    try {
      const sessionIdBytes = new TextEncoder().encode(sessionId)
      let result: PairingResult
      if (role === 'technician') {
        const handshake = createTechnicianHandshake(sessionIdBytes)
        this.sendFrame(handshake.commit())
        if (typeof this.options.sshPublicKey === 'function') {
          // The commit leaves now; the SSH key (10-25 ms of CPU) is made while the gateway and
          // the host answer it, instead of before the first contact with the gateway (issue 12).
          flushWrites(socketUnder(this.socket))
          this.options.sshPublicKey()
        }
        const { reveal, result: pairing } = handshake.onHostKey(await this.frames.next(timeout))
        this.sendFrame(reveal)
        result = pairing
      } else {
        const handshake = createHostHandshake(sessionIdBytes)
        this.sendFrame(handshake.onCommit(await this.frames.next(timeout)))
        result = handshake.onReveal(await this.frames.next(timeout))
      }
      const channel = (this.channel = result.channel)
      this.sessionId = sessionId
      this.resumeKey = result.resumeKey
      const { sshPublicKey } = this.options
      const sshKey = typeof sshPublicKey === 'function' ? sshPublicKey() : sshPublicKey
      const ownHello = { type: 'hello', role, protocol: SESSION_PROTOCOL, sshKey }
      const { transcriptHash } = result
      let peerSshKey: ParsedKey
      let verified: VerifiedTechnician | undefined
      let dial: readonly DirectCandidate[] | undefined
      if (role === 'technician') {
        const { device } = this.options
        const proof = device && makeDeviceProof(device, { transcriptHash, sshKey })
        const wish =
          this.directMode !== 'refuse' && this.gatewayAllowsDirect ? { direct: this.directMode } : {}
        this.sendFrame(sealJson(channel, { ...ownHello, ...wish, ...(proof ? { device: proof } : {}) }))
        const answer = openJson(channel, await this.frames.next(timeout))
        const refusal = refused.safeParse(answer)
        if (refusal.success) {
          const reason = `the end user's computer refused you: ${refusal.data.reason}`
          this.outcome ??= {
            event: 'ended',
            by: 'host',
            reason: sanitizeForTerminal(reason, 400),
            code: 'untrusted',
          }
          // The host closes at once (4403), so the gateway logs why; this side leaves only if it does not.
          setTimeout(() => this.fail(reason, 'untrusted'), 2000).unref()
          return
        }
        const host = this.checkHello(answer)
        peerSshKey = host.key
        dial = offerToDial(this.directMode, this.gatewayAllowsDirect, host.direct)
      } else {
        // The host answers only once it has checked who is there: a refused technician gets no hello.
        const peer = this.checkHello(openJson(channel, await this.frames.next(timeout)))
        if (this.options.trust) {
          try {
            verified = verifyDeviceProof({
              anchors: this.options.trust,
              proof: peer.device,
              context: { transcriptHash, sshKey: peer.sshKey },
              ...(this.technician ? { gatewayEmail: this.technician.email } : {}),
            })
          } catch (error) {
            if (!(error instanceof TrustError)) throw error
            this.sendFrame(sealJson(channel, { type: 'refused', reason: error.message }))
            const who = this.technician ? ` (${this.technician.email}, as the gateway vouches)` : ''
            return this.fail(
              `refused the technician${who}: ${error.message}`,
              'untrusted',
              CloseCode.untrusted,
            )
          }
        }
        // The offer rides in the sealed hello: the gateway can neither read the addresses nor forge them.
        const offer = await this.offerDirect(peer.direct, result.resumeKey)
        this.sendFrame(sealJson(channel, offer ? { ...ownHello, direct: offer } : ownHello))
        peerSshKey = peer.key
      }
      // The SSH keys were all it had to carry: SSH seals everything from here, so its keys go.
      channel.destroy()
      this.peerSshKey = peerSshKey
      if (this.finished) return
      const transport = (this.stream = new ResumableStream({ role, resumeKey: result.resumeKey }))
      transport.start(this.socket)
      this.streamLink = this.socket
      // The gateway learns only a public key: it can check a resume proof, never make one. Sent
      // before `paired` is told, so a side that dies the moment it says so can still be resumed.
      const { publicKey } = resumeSigningKey(result.resumeKey, role)
      this.sendText({
        type: 'resume-key',
        key: Buffer.from(publicKey).toString('base64'),
        graceMs: this.graceMs,
      })
      flushWrites(socketUnder(this.socket))
      this.emit({
        event: 'paired',
        role,
        sessionId,
        sas: result.sas,
        ...(this.technician ? { technician: this.technician } : {}),
        ...(verified ? { verified } : {}),
        ...(this.policy ? { policy: this.policy } : {}),
      })
      if (this.directListener) {
        this.emit({ event: 'direct-offered', role, sessionId, port: this.directListener.port })
      }
      for (const frame of this.frames.drain()) this.onRelayFrame(Buffer.from(frame))
      this.options.onSecured?.({ transport, peerSshKey, resumeKey: result.resumeKey })
      if (dial) void this.dialDirect(dial, result.resumeKey)
    } catch (error) {
      if (this.finished) return
      const detail = error instanceof PairingError ? error.message : String(error)
      this.fail(`pairing failed: ${detail}`, 'pairingFailed', CloseCode.pairingFailed)
    }
  }

  /** Checks the peer's hello; returns the SSH key it carries, and what else it said. */
  private checkHello(message: unknown): { key: ParsedKey; sshKey: string; device: unknown; direct: unknown } {
    const parsed = hello.safeParse(message)
    const peer = this.options.role === 'host' ? 'technician' : 'host'
    if (!parsed.success || parsed.data.role !== peer) {
      throw new PairingError('MALFORMED', `the ${roleName[peer]} sent a malformed hello`)
    }
    if (parsed.data.protocol !== SESSION_PROTOCOL) {
      throw new PairingError('UNEXPECTED', `the ${roleName[peer]} runs an incompatible version of rescue`)
    }
    const key = parsePeerPublicKey(parsed.data.sshKey)
    if (!key) throw new PairingError('MALFORMED', `the ${roleName[peer]} sent an unusable SSH key`)
    return { key, sshKey: parsed.data.sshKey, device: parsed.data.device, direct: parsed.data.direct }
  }

  private get directMode(): DirectMode {
    return this.options.direct ?? 'allow'
  }

  /**
   * The host's: when one side asked for a direct link and nobody refused, listens for it and
   * returns the offer for its hello. A host that cannot listen stays on the relay.
   */
  private async offerDirect(technicianWish: unknown, resumeKey: Uint8Array): Promise<object | undefined> {
    if (!hostOffers(this.directMode, technicianWish, this.gatewayAllowsDirect)) return undefined
    const { role } = this.options
    const sessionId = this.sessionId
    try {
      const listener = await listenDirect({
        resumeKey,
        sessionId,
        onLink: (link) => {
          this.directListener = undefined
          this.useDirect(link)
        },
        onRefused: (from, reason) => this.emit({ event: 'direct-refused', role, sessionId, from, reason }),
        onTimeout: () => {
          this.directListener = undefined
          if (this.finished || this.path === 'direct') return
          const reason = 'no direct link within 10 s: the session stays on the relay'
          this.emit({ event: 'link-relay', role, sessionId, reason })
        },
      })
      if (this.finished) return void listener.close()
      this.directListener = listener
      return { candidates: (this.options.directCandidates ?? localCandidates)(listener.port) }
    } catch {
      return undefined
    }
  }

  /** The technician's: tries the host's offer; the session stays on the relay if none answers. */
  private async dialDirect(candidates: readonly DirectCandidate[], resumeKey: Uint8Array): Promise<void> {
    const stream = this.stream
    const { link, failure } = await dialDirect(
      { candidates, resumeKey, sessionId: this.sessionId },
      () => this.finished || this.stream !== stream,
    )
    if (link) return this.useDirect(link)
    if (this.finished || this.stream !== stream) return
    const reason = `no direct link (${failure}): the session stays on the relay`
    this.emit({
      event: 'link-relay',
      role: this.options.role,
      sessionId: this.sessionId,
      reason: clean(reason),
    })
  }

  /** A proven direct link: the stream moves onto it (its RESUME exchange makes that lossless). */
  private useDirect(link: DirectLink): void {
    if (this.finished || !this.stream || this.technicianLeft || this.direct) {
      return link.close('the session has no use for it')
    }
    this.direct = link
    this.path = 'direct'
    this.rejoinOn(link)
    link.onFrame((frame) => {
      if (this.direct === link) this.deliver(link, frame)
    })
    link.onClose((why) => {
      if (this.direct === link) this.leaveDirect(`the direct link dropped (${why})`, true)
    })
    if (this.direct !== link) return
    const { role } = this.options
    this.emit({ event: 'link-direct', role, sessionId: this.sessionId, peer: link.remote })
  }

  /**
   * Back onto the relay: the direct link dropped (`rejoin`: this side starts the switch) or the
   * peer came back to the relay first (its RESUME there is answered by deliver()).
   */
  private leaveDirect(reason: string, rejoin: boolean): void {
    const link = this.direct
    this.direct = undefined
    link?.close(reason)
    if (this.path !== 'direct') return
    this.path = 'relay'
    this.emit({ event: 'link-relay', role: this.options.role, sessionId: this.sessionId, reason })
    if (!rejoin || !this.stream || this.technicianLeft || this.finished) return
    // With either relay link down, the gateway's `resumed` starts the switch when both are back.
    if (this.ownLink === 'up' && !this.peerRelayDown) this.rejoinOn(this.socket)
    else this.streamLost()
  }

  /** Closes any direct link or listener; the stream is back on the relay's terms. */
  private closeDirect(): void {
    this.directListener?.close()
    this.directListener = undefined
    const link = this.direct
    this.direct = undefined
    link?.close('the session ended')
    this.path = 'relay'
  }

  /** A binary frame from the gateway: the stream's, unless the stream has moved to the direct link. */
  private onRelayFrame(frame: Buffer): void {
    if (this.path === 'direct') {
      // Sent before the peer moved to the direct link: stale. A RESUME: the peer came back.
      if (frame[0] !== RESUME_FRAME) return
      this.leaveDirect('the peer went back to the relay', false)
    }
    this.deliver(this.socket, frame)
  }

  private deliver(link: FrameLink, frame: Buffer): void {
    const stream = this.stream
    if (!stream) return
    if (frame[0] === RESUME_FRAME && !this.technicianLeft) {
      // The peer's RESUME answers this side's, or starts a switch of the peer's: then this side follows.
      if (this.awaitingResume !== link) this.rejoinOn(link)
      this.awaitingResume = undefined
    }
    stream.pushFrame(frame)
  }

  /** Moves the stream onto `link`: it sends this side's RESUME there, and goes on at the peer's. */
  private rejoinOn(link: FrameLink): void {
    const previous = this.streamLink
    this.streamLink = link
    this.awaitingResume = link
    this.stream!.rejoin(link)
    // The stream may have paused the link it leaves (backpressure): the relay must still be read.
    if (previous && previous !== link) previous.resume()
  }

  /** The stream's link is gone: writes wait for the next. */
  private streamLost(): void {
    this.stream?.linkLost()
    this.streamLink = undefined
    this.awaitingResume = undefined
  }

  /**
   * Reports of one event-loop turn leave together right after it, ahead of any other text: they
   * arrive in one read and are stored in one transaction (gateway/session-log.ts). No longer than
   * a turn: a report must reach the gateway before the other side can end the session on what it
   * reports (the last file of a `send`, a chat line); one 20 ms apart lost such a report.
   */
  private report(event: SessionReport): void {
    if (this.finished) return
    if (this.ownLink === 'down') return this.queueReports([event])
    this.pendingReports.push(event)
    this.reportTimer ??= setImmediate(() => this.sendReports())
  }

  /** Sends the reports waiting, or keeps them for the link's return (before those told since). */
  private sendReports(): void {
    clearImmediate(this.reportTimer)
    this.reportTimer = undefined
    if (this.pendingReports.length === 0) return
    const reports = this.pendingReports.splice(0)
    if (this.ownLink === 'down') return this.queueReports(reports, true)
    for (const report of reports) this.sendText({ type: 'report', ...report })
  }

  /** Sent once the gateway has this side back (in the order told); a drop no log would show. */
  private queueReports(reports: SessionReport[], older = false): void {
    const room = Math.max(0, MAX_QUEUED_REPORTS - this.queuedReports.length)
    if (older) this.queuedReports.unshift(...reports.slice(0, room))
    else this.queuedReports.push(...reports.slice(0, room))
  }

  private sendText(message: { type: string; [field: string]: unknown }): void {
    if (message.type !== 'report' && this.pendingReports.length > 0) this.sendReports()
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message))
  }

  private linkLost(side: LinkSide, graceMs: number, restarting = false): void {
    if (this.lostAt === undefined) {
      this.lostAt = Date.now()
      this.lostSide = side
    }
    this.emit({
      event: 'link-lost',
      role: this.options.role,
      sessionId: this.sessionId,
      side,
      graceMs,
      ...(restarting ? { restarting } : {}),
    })
  }

  /**
   * The host came back from a restart: its SSH is gone, so both sides drop the old stream (the
   * technician's SSH sees its end) and start a new one from offset 0 for a new SSH, which still
   * accepts only the keys of the sealed hello. Told by the gateway, which could only make a
   * technician start an SSH the host's key must then answer: it cannot forge the host.
   */
  private freshStream(): void {
    const { role } = this.options
    if (!this.resumeKey || !this.peerSshKey) return
    if (role === 'host' && !this.restarting) return
    if (role === 'technician' && !this.stream) return
    this.restarting = false
    this.closeDirect()
    this.stream?.endOfStream()
    this.ownLink = 'up'
    this.lostAt = undefined
    this.lostSide = undefined
    const transport = (this.stream = new ResumableStream({ role, resumeKey: this.resumeKey }))
    transport.start(this.socket)
    this.streamLink = this.socket
    this.awaitingResume = undefined
    this.emit({ event: 'restarted', role, sessionId: this.sessionId })
    this.options.onSecured?.({ transport, peerSshKey: this.peerSshKey, resumeKey: this.resumeKey })
  }

  /** The host's: asks the gateway to hold the session for a restart, then leaves. */
  private restart(graceMs: number, reason: string): void {
    if (this.finished || this.options.role !== 'host' || !this.stream) return
    this.sendText({ type: 'rebooting', graceMs })
    this.close({ event: 'ended', by: 'host', reason }, CloseCode.rebooting)
  }

  /**
   * This side's link dropped: reconnects with backoff and a resume proof until the grace period
   * runs out. A refusal that will not change (the gateway no longer knows the session, a revoked
   * login) ends the session at once.
   */
  private async reconnect(): Promise<void> {
    clearInterval(this.watchdog)
    // On the direct link the stream goes on; only the gateway's messages wait.
    if (this.path === 'relay') this.streamLost()
    this.ownLink = 'down'
    this.sendReports()
    const firstDrop = this.lostAt === undefined || this.lostSide !== 'self'
    if (firstDrop) {
      this.lostAt = undefined
      this.linkLost('self', this.graceMs)
    }
    const graceEnds = this.lostAt! + this.graceMs
    let delay = RECONNECT_FIRST_MS
    while (!this.finished && Date.now() < graceEnds) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(delay, Math.max(0, graceEnds - Date.now()))),
      )
      delay = Math.min(delay * 2, RECONNECT_MAX_MS)
      if (this.finished || Date.now() >= graceEnds) break
      try {
        await openGatewaySocket(
          {
            server: this.options.server,
            role: this.options.role,
            ...(this.options.token ? { token: this.options.token } : {}),
            entry: { resume: this.sessionId },
            handshakeTimeoutMs: Math.max(100, Math.min(5000, graceEnds - Date.now())),
          },
          // Bound at once: the challenge may arrive in the same turn as the open.
          (socket) => {
            if (this.finished) return socket.close(CloseCode.normal)
            this.socket = socket
            this.bind(socket)
          },
        )
        // The challenge and `resumed` come through onControl; a new drop starts this again.
        this.startWatchdog(this.heartbeatMs ?? 5000)
        return
      } catch (error) {
        if (
          error instanceof UserError &&
          error.code !== 'gatewayUnreachable' &&
          error.code !== 'rateLimited'
        ) {
          this.outcome ??= {
            event: 'ended',
            by: 'gateway',
            reason: clean(`the session could not be resumed: ${error.message}`),
            code: 'connectionLost',
          }
          return this.finish()
        }
      }
    }
    const seconds = Math.round(this.graceMs / 1000)
    this.outcome ??= {
      event: 'ended',
      by: 'gateway',
      reason: `the connection did not come back within ${seconds} s`,
      code: 'connectionLost',
    }
    this.finish()
  }

  private sendFrame(frame: Uint8Array): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(frame, { binary: true })
  }

  /** The gateway pings every `heartbeatMs`; three silent periods mean it is gone. */
  private startWatchdog(heartbeatMs: number): void {
    clearInterval(this.watchdog)
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard > 3 * heartbeatMs) {
        // Paired, the stream outlives the socket: the close starts a reconnect, not the end.
        if (!this.stream) {
          this.outcome ??= {
            event: 'ended',
            by: 'gateway',
            reason: 'lost the connection to the gateway',
            code: 'connectionLost',
          }
        }
        this.lastHeard = Date.now()
        this.socket.terminate()
      }
    }, heartbeatMs)
  }

  private endLocally(why?: { reason: string; code?: ErrorCode; closeCode?: number }): void {
    this.close(
      {
        event: 'ended',
        by: this.options.role,
        reason: why?.reason ?? `the ${roleName[this.options.role]} ended the session`,
        ...(why?.code ? { code: why.code } : {}),
      },
      why?.closeCode ?? CloseCode.normal,
    )
  }

  private fail(reason: string, code: ErrorCode, closeCode: number = CloseCode.normal): void {
    // Our own reasons, which may quote a certificate's fields: escaped, and longer than a gateway's.
    const text = sanitizeForTerminal(reason, 400)
    this.close({ event: 'ended', by: this.options.role, reason: text, code }, closeCode)
  }

  private close(outcome: SessionEnded, closeCode: number): void {
    if (this.finished) return
    this.sendReports()
    this.outcome ??= outcome
    if (this.ownLink === 'down' && this.stream) {
      // The peer would wait out the grace period for this side: the reconnects going on carry the
      // leave to the gateway if the link comes back soon enough (see LEAVE_WAIT_MS).
      this.leaving ??= {
        closeCode,
        told: false,
        timer: setTimeout(() => {
          this.socket.terminate()
          this.finish()
        }, LEAVE_WAIT_MS),
      }
      return
    }
    const { socket } = this
    if (socket.readyState === socket.CONNECTING || socket.readyState === socket.OPEN) {
      socket.close(closeCode)
      // A gateway that never answers the close is cut off, so the command can exit.
      setTimeout(() => socket.terminate(), 2000).unref()
    } else this.finish()
  }

  private finish(): void {
    if (this.finished) return
    this.finished = true
    clearInterval(this.watchdog)
    clearImmediate(this.reportTimer)
    clearTimeout(this.leaving?.timer)
    this.closeDirect()
    this.channel?.destroy()
    this.stream?.endOfStream()
    this.frames.fail(new PairingError('UNEXPECTED', 'the connection closed'))
    const ended = this.outcome ?? {
      event: 'ended',
      by: 'gateway',
      reason: 'lost the connection to the gateway',
      code: 'connectionLost',
    }
    try {
      this.emit(ended)
    } finally {
      // Whatever a listener does with the news, the session is over for whoever awaits it.
      this.resolveDone(ended)
    }
  }

  private emit(event: SessionEvent): void {
    this.options.onEvent(event)
  }
}
