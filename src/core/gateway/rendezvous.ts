/**
 * Waiting rooms, one per live PIN: the end user (host) and the technician arrive in either order;
 * when both are there the PIN is consumed, each gets a `paired` message and their sockets are
 * relayed. It also owns liveness (ping/pong) and tells the survivor when one side leaves, and why.
 * A paired side whose link drops is held for a grace period: it comes back with a proof only it
 * can make (resume-proof.ts), the relay starts again, and both sides resend what the other lacks.
 * Every room is one row of the session log, which also keeps the resume keys, so a gateway that
 * restarted (or another one on the same database) can let both sides back in.
 */
import type { WebSocket } from 'ws'
import {
  CloseCode,
  decodeResumeMessage,
  decodePeerText,
  roleName,
  type ControlMessage,
  type EndedMessage,
  type Role,
  type QueuedSession,
  type SessionPolicy,
  type SessionReportMessage,
  WORDS_MISMATCH,
  WORDS_UNCONFIRMED,
} from '../protocol/control-messages.js'
import type { LogCipher } from './log-cipher.js'
import type { Permission } from '../consent/types.js'
import { addressKey, type AddressLimits } from './address-limits.js'
import { relayOneWay, type RelayEnd, type RelayStats } from './relay.js'
import { identityOf } from '../accounts/index.js'
import { UserError } from '../errors.js'
import { newId } from '../ids.js'
import { hashToken, newToken } from '../accounts/token.js'
import type { Group, Pin, SessionRow, Store, UserWithOrganisation } from '../store/index.js'
import type { SessionEventsTable } from '../store/schema.js'
import { resumeNonce, verifyResume } from '../transport/resume-proof.js'
import { SessionLogWriter } from './session-log.js'

/** A technician flooding reports cannot fill the gateway's disk: past this, they are dropped. */
const MAX_REPORTS_PER_SESSION = 10_000
/** How long an end user waits in a group's shared queue before the gateway gives up. */
export const CHANNEL_WAIT_MS = 60 * 60 * 1000

/** Who may come in, as the gateway decided before the upgrade. */
export type Admission =
  /** Through a PIN: the end user, or its owner. `technician` is the PIN's owner either way. */
  | { role: Role; address: string; via: 'pin'; pin: Pin; technician: UserWithOrganisation }
  /** An end user joining a group's shared queue. */
  | { role: 'host'; address: string; via: 'channel'; channel: Group }
  /** A technician who took a waiting session from a queue (the store's take already succeeded). */
  | { role: 'technician'; address: string; via: 'queue'; sessionId: string; technician: UserWithOrganisation }
  /** The end user's side joining the session of a technician invited into theirs (the gateway checked its secret). */
  | { role: 'host'; address: string; via: 'invite'; sessionId: string }
  /** A paired side coming back after its link dropped; it must still prove it (a signed challenge). */
  | { role: Role; address: string; via: 'resume'; sessionId: string; technicianId?: string }

interface Peer extends RelayEnd {
  role: Role
  address: string
  alive: boolean
  heartbeat: NodeJS.Timeout
  /** Set when the peer broke the framing rules; it explains the close better than its code. */
  violation?: number
}

interface Room {
  sessionId: string
  /** What the room is found by: `pin:<pin id>`, or `session:<id>` for a shared-queue session. */
  key: string
  pin?: Pin
  channel?: Group
  /** The technician the session is for: the PIN's owner, or whoever took it from the queue. */
  technician?: UserWithOrganisation
  expiresAt: string
  /** When the end user arrived, for the queue's wait times. */
  hostSince?: string
  peers: Partial<Record<Role, Peer>>
  paired: boolean
  ended: boolean
  /** Ends a room that nobody paired in time; none once paired. */
  expiry?: NodeJS.Timeout
  /** The session row's insert; later updates wait for it. */
  logged: Promise<void>
  /** Reports kept in the session log so far, from both sides. */
  reports: number
  /** Stops relaying between the paired peers (when the session is transferred). */
  unrelay?: () => void
  /** The host's reports are recorded from its first pairing on, once. */
  hostReporting?: boolean
  /** Each side's resume key (base64 ed25519 public key), as it sent it after pairing. */
  resumeKeys: Partial<Record<Role, string>>
  /** The grace period each side asked for. */
  graceMs: Partial<Record<Role, number>>
  /** Sides whose link dropped, and the timer that ends the session if they do not come back. */
  lost: Partial<Record<Role, NodeJS.Timeout>>
  /** Ever paired (a transfer unpairs it): a session that never was leaves no row behind. */
  wasPaired?: boolean
  /** Who handed the session over, while it waits for the technician it was handed to. */
  transferredFrom?: string
  /**
   * The host said it is restarting its computer (`rescue reboot`): how long it is held for, within
   * the gateway's bound. Set from its `rebooting` message until it comes back with a fresh stream.
   */
  rebootGraceMs?: number
  /** The host went away to restart; its return starts a new SSH (`resumed` with `restarted`). */
  restarting?: boolean
  /** A session of its own for a technician invited into `parentId` (rescue invite), by `from`. */
  invitation?: { parentId: string; from: UserWithOrganisation }
  /** Who leads the session when the lead was handed over; else its technician. */
  leadId?: string
  /**
   * The session's own technician left while others go on in sessions of their own (invited): the
   * room stays for the end user's link, which carries the news about them, and relays nothing more.
   */
  technicianLeft?: boolean
  /** The end user removed the invited technician of this room: their invitation is over for good. */
  removed?: boolean
  /** Rebuilt from the store (restoreRoom): it may be an invited technician's, unknown to this room. */
  restored?: boolean
  /** The end user's address as the session row has it (other gateways list waiting rooms from it). */
  loggedHostAddress?: string
}

/** How long a gateway holds a dropped side at most, whatever the sides ask for. */
export const DEFAULT_MAX_RESUME_GRACE_MS = 60_000
/** How long a gateway holds a host that is restarting its computer at most: a slow reboot's length. */
export const DEFAULT_MAX_REBOOT_GRACE_MS = 15 * 60_000
/** How long a resuming side has to answer the challenge. */
const RESUME_PROOF_TIMEOUT_MS = 10_000

/** A close that is a link dropping (no closing handshake, a server going away), not anyone's decision. */
function isLinkDrop(code: number): boolean {
  return code === 1006 || code === 1011 || code === 1012 || code === 1013 || code === 1005
}

/** How long a transferred session waits for its new technician. */
export const TRANSFER_WAIT_MS = 10 * 60 * 1000
/** How long an invitation waits for the invited technician. */
export const INVITATION_WAIT_MS = 10 * 60 * 1000

export interface RendezvousOptions {
  store: Store
  /** This gateway's id among those on the same database (cluster.ts): written on the rooms it holds. */
  gatewayId: string
  heartbeatMs: number
  /** Session log lines for the operator's console; never payloads or secrets. */
  onLog?: (line: string) => void
  /** Sees every relayed frame (ciphertext only, by design); for tests and diagnostics. */
  tap?: (from: Role, frame: Buffer) => void
  /** Seals the details of session log entries (chat lines, file names) at rest. */
  logCipher: LogCipher
  /** What a technician's groups let them ask for: sent to the host, which enforces it. */
  policyFor(technician: UserWithOrganisation): Promise<SessionPolicy>
  /** The longest grace period a dropped side is held for; DEFAULT_MAX_RESUME_GRACE_MS when absent. */
  maxResumeGraceMs?: number
  /** The longest a restarting host is held for (`rescue reboot`); DEFAULT_MAX_REBOOT_GRACE_MS when absent. */
  maxRebootGraceMs?: number
  /** A resume whose proof did not check out, from this address (counted like a wrong PIN). */
  onResumeRefused?: (address: string) => void
  /** How many end users may wait in shared queues at once, per address and per group. */
  limits: Pick<AddressLimits, 'waitingPerAddress' | 'waitingPerGroup'>
  /** A paired session ended and its row is final: the compliance hook (CRM webhook). */
  onSessionEnded?: (sessionId: string) => void
  /** False: the sides are told to keep every byte on the relay, no direct link (`--no-direct`). */
  direct?: boolean
}

/** Why a paired session ended, from the close code of the side that left. */
export function endedByClose(role: Role, code: number): EndedMessage {
  const leaver = roleName[role]
  switch (code) {
    case CloseCode.normal:
    case CloseCode.goingAway:
      return { type: 'ended', by: role, reason: `the ${leaver} ended the session` }
    case CloseCode.pairingFailed:
      return { type: 'ended', by: role, reason: `the ${leaver} rejected the pairing`, code: 'pairingFailed' }
    // Only the host closes with these; either way the other side learns why the session is over.
    case CloseCode.wordsMismatch:
      return { type: 'ended', by: role, reason: WORDS_MISMATCH, code: 'pairingFailed' }
    case CloseCode.wordsUnconfirmed:
      return { type: 'ended', by: role, reason: WORDS_UNCONFIRMED, code: 'pairingFailed' }
    case CloseCode.removed:
      return { type: 'ended', by: role, reason: 'the end user removed you from the session' }
    case CloseCode.untrusted:
      return {
        type: 'ended',
        by: role,
        reason: `the ${leaver} refused the ${role === 'host' ? 'technician' : 'end user'}: no valid certificate from the organisation key it trusts`,
        code: 'untrusted',
      }
    case CloseCode.messageTooBig:
      return {
        type: 'ended',
        by: 'gateway',
        reason: `the ${leaver} sent an oversized frame`,
        code: 'failure',
      }
    default:
      // 1006 and the like: no closing handshake, the peer vanished.
      return {
        type: 'ended',
        by: 'gateway',
        reason: `lost the connection to the ${leaver}`,
        code: 'connectionLost',
      }
  }
}

function send(socket: WebSocket, message: ControlMessage): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message))
}

export class Rendezvous {
  private readonly rooms = new Map<string, Room>()
  readonly stats: RelayStats = { peakQueuedBytes: 0, relayedBytes: 0 }

  /** The session log's rows of one turn go into the store together (session-log.ts). */
  private readonly sessionLog: SessionLogWriter

  constructor(private readonly options: RendezvousOptions) {
    this.sessionLog = new SessionLogWriter(options.store, (error) => this.logError(error))
  }

  /** Throws when this role's place in the PIN's room is taken, so the upgrade can be refused with a status. */
  assertVacant(pinId: string, role: Role): void {
    if (this.rooms.get(`pin:${pinId}`)?.peers[role]) {
      throw new UserError('conflict', `another ${roleName[role]} is already connected with this PIN`)
    }
  }

  /** True while this gateway has the live waiting room of this PIN (it claimed it in the store to make it). */
  holdsPinRoom(pinId: string): boolean {
    return this.rooms.has(`pin:${pinId}`)
  }

  /** A session whose end user waits and no technician has joined: what a queue offers. */
  waitingSession(sessionId: string): { channelId?: string; ownerId?: string } | undefined {
    const room = [...this.rooms.values()].find((candidate) => candidate.sessionId === sessionId)
    // An invited technician may come before the end user's side has joined; they wait for it.
    const invited = room?.invitation && !room.ended && !room.paired && !room.peers.technician
    if (!room || !(isWaiting(room) || invited)) return undefined
    return {
      ...(room.channel ? { channelId: room.channel.id } : {}),
      // A PIN session, or one transferred to someone: theirs alone.
      ...(!room.channel && room.technician ? { ownerId: room.technician.id } : {}),
    }
  }

  /** True when `userId` is the technician of this live, paired session. */
  isPairedWith(sessionId: string, userId: string): boolean {
    const room = [...this.rooms.values()].find((candidate) => candidate.sessionId === sessionId)
    return (
      room !== undefined &&
      room.paired &&
      !room.ended &&
      !room.technicianLeft &&
      room.technician?.id === userId
    )
  }

  /** Puts the gateway's own refusal of a request in the session log. */
  async recordRefusal(sessionId: string, permission: Permission): Promise<void> {
    const room = [...this.rooms.values()].find((candidate) => candidate.sessionId === sessionId)
    if (!room || room.reports >= MAX_REPORTS_PER_SESSION) return
    await this.sessionLog.add({
      id: newId(),
      session_id: sessionId,
      seq: ++room.reports,
      at: new Date().toISOString(),
      source: 'gateway',
      event: 'consent-decision',
      kind: permission,
      allowed: 0,
      detail: null,
    })
  }

  /** The sessions `user` may take: their own PIN sessions and their groups' shared queues, oldest first. */
  queueFor(userId: string, groupIds: ReadonlySet<string>): QueuedSession[] {
    return [...this.rooms.values()]
      .filter(isWaiting)
      .filter((room) => (room.channel ? groupIds.has(room.channel.id) : room.technician?.id === userId))
      .map((room) => ({
        sessionId: room.sessionId,
        ...(room.channel ? { channel: room.channel.name } : {}),
        waitingSince: room.hostSince ?? '',
        hostAddress: room.peers.host?.address ?? '',
        ...(room.transferredFrom ? { transferredFrom: room.transferredFrom } : {}),
      }))
      .sort((a, b) => a.waitingSince.localeCompare(b.waitingSince))
  }

  /**
   * Why one more end user from `address` may not wait in `group`'s shared queue now, or undefined
   * when they may: a queue flooded by one address, or by many, stays small enough to use.
   */
  queueRefusal(group: Group, address: string): string | undefined {
    const waiting = [...this.rooms.values()].filter((room) => room.channel && isWaiting(room))
    const key = addressKey(address)
    const fromAddress = waiting.filter((room) => addressKey(room.peers.host?.address ?? '') === key).length
    if (fromAddress >= this.options.limits.waitingPerAddress) {
      return `${fromAddress} end users from this address are already waiting in shared queues`
    }
    const inGroup = waiting.filter((room) => room.channel?.id === group.id).length
    if (inGroup >= this.options.limits.waitingPerGroup) {
      return `the shared queue of ${group.name} is full (${inGroup} waiting)`
    }
    return undefined
  }

  get openSessions(): number {
    return this.rooms.size
  }

  /** Seats an upgraded socket in its room; pairs when both sides are present. */
  async join(socket: WebSocket, admission: Admission): Promise<void> {
    if (admission.via === 'resume') return this.challenge(socket, admission)
    // Synchronous up to the pairing, so no close or pong can slip by before its listener exists.
    // The gateway checked the queue before the upgrade; joins that raced past it stop here.
    const full = admission.via === 'channel' && this.queueRefusal(admission.channel, admission.address)
    if (full) {
      send(socket, { type: 'ended', by: 'gateway', reason: full, code: 'rateLimited' })
      socket.close(CloseCode.normal)
      return
    }
    const room = this.roomFor(admission)
    if (!room || room.peers[admission.role] || room.ended) {
      socket.close(
        CloseCode.conflict,
        room
          ? `another ${roleName[admission.role]} is already in this session`
          : 'that session is no longer waiting',
      )
      return
    }
    if (admission.role === 'host') {
      room.hostSince = new Date().toISOString()
      // Other gateways list the waiting end user from the row (made with it when the host came first).
      if (admission.via === 'pin' && room.loggedHostAddress !== admission.address) {
        room.loggedHostAddress = admission.address
        room.logged
          .then(() => this.options.store.updateSession(room.sessionId, { host_address: admission.address }))
          .catch(this.logError)
      }
    }
    if (admission.via === 'queue') room.technician = admission.technician
    const peer = this.newPeer(admission.role, socket, admission.address)
    room.peers[admission.role] = peer
    this.watch(room, peer)
    send(socket, {
      type: 'waiting',
      sessionId: room.sessionId,
      expiresAt: room.expiresAt,
      heartbeatMs: this.options.heartbeatMs,
      // The end user's side of an invitation comes in as if taking a queued session (it is one).
      via: admission.via === 'invite' ? 'queue' : admission.via,
      ...(room.channel ? { channel: room.channel.name } : {}),
    })
    if (room.peers.host && room.peers.technician)
      await this.pair(room, room.peers.host, room.peers.technician)
  }

  private readonly logError = (error: unknown) => this.options.onLog?.(`internal error: ${String(error)}`)

  private newPeer(role: Role, socket: WebSocket, address: string): Peer {
    const peer: Peer = {
      role,
      socket,
      address,
      paused: false,
      alive: true,
      heartbeat: setInterval(() => this.checkAlive(peer), this.options.heartbeatMs),
    }
    return peer
  }

  private watch(room: Room, peer: Peer): void {
    const { socket } = peer
    socket.on('pong', () => (peer.alive = true))
    socket.on('close', (code) => void this.onClose(room, peer, peer.violation ?? code).catch(this.logError))
    // ws closes the socket itself after an error; only the reason is worth keeping.
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') peer.violation = CloseCode.messageTooBig
    })
  }

  /** True when `role` of this session may try to resume: a paired, live session that has its key. */
  async canResume(sessionId: string, role: Role, technicianId?: string): Promise<boolean> {
    const room = this.roomOf(sessionId) ?? (await this.restoreRoom(sessionId))
    if (!room || room.ended || !room.paired || !room.resumeKeys[role]) return false
    return role === 'host' || (room.technician?.id === technicianId && !room.technicianLeft)
  }

  /** True when this gateway has the session's room. */
  holds(sessionId: string): boolean {
    return this.roomOf(sessionId) !== undefined
  }

  private roomOf(sessionId: string): Room | undefined {
    return [...this.rooms.values()].find((candidate) => candidate.sessionId === sessionId)
  }

  /**
   * A paired session this gateway has no room for (it restarted, or the session began on another
   * gateway of the same database): a room rebuilt from its row, both sides held as dropped.
   */
  private async restoreRoom(sessionId: string): Promise<Room | undefined> {
    if (!/^[a-z0-9]{1,64}$/.test(sessionId)) return undefined
    const row = await this.options.store.findSession(sessionId)
    const technicianId = row?.taken_by ?? row?.technician_id
    // Its technician left after handing the lead over (their key was dropped): the others go on.
    const technicianLeft =
      !row?.technician_resume_key && row?.lead_id !== null && row?.lead_id !== technicianId
    if (
      !row?.paired_at ||
      row.ended_at ||
      !row.host_resume_key ||
      (!row.technician_resume_key && !technicianLeft)
    )
      return undefined
    const technician = technicianId ? await this.options.store.findUserById(technicianId) : undefined
    if (!technician) return undefined
    const again = this.roomOf(sessionId)
    if (again) return again
    const room = this.newRoom(row, technician)
    if (row.lead_id) room.leadId = row.lead_id
    if (technicianLeft) room.technicianLeft = true
    // An invited technician's session knows whose it was invited into, as before the restart.
    const invitation = await this.options.store.findInvitation(sessionId)
    const from = invitation && (await this.options.store.findUserById(invitation.from_id))
    if (invitation && from) room.invitation = { parentId: invitation.session_id, from }
    for (const role of technicianLeft ? (['host'] as const) : (['host', 'technician'] as const))
      this.holdLost(room, role)
    this.options.onLog?.(`session ${sessionId}: restored from the store, waiting for both sides to resume`)
    return room
  }

  private newRoom(row: SessionRow, technician: UserWithOrganisation): Room {
    const room: Room = {
      sessionId: row.id,
      key: `session:${row.id}`,
      technician,
      expiresAt: new Date().toISOString(),
      peers: {},
      paired: true,
      reports: 0,
      ended: false,
      logged: Promise.resolve(),
      hostReporting: true,
      resumeKeys: {
        ...(row.host_resume_key ? { host: row.host_resume_key } : {}),
        ...(row.technician_resume_key ? { technician: row.technician_resume_key } : {}),
      },
      graceMs: {},
      lost: {},
      restored: true,
    }
    this.rooms.set(room.key, room)
    return room
  }

  private get maxGraceMs(): number {
    return this.options.maxResumeGraceMs ?? DEFAULT_MAX_RESUME_GRACE_MS
  }

  /** The grace period of this room: the shortest any side asked for, within the gateway's bound. */
  private graceOf(room: Room, role?: Role): number {
    if (role === 'host' && room.restarting && room.rebootGraceMs !== undefined) return room.rebootGraceMs
    return Math.min(this.maxGraceMs, ...Object.values(room.graceMs))
  }

  /** Holds a dropped side's place; the session ends if it is not back within the grace period. */
  private holdLost(room: Room, role: Role): void {
    clearTimeout(room.lost[role])
    const graceMs = this.graceOf(room, role)
    const restarting = role === 'host' && room.restarting
    room.lost[role] = setTimeout(() => {
      // Others go on without a technician whose link did not come back, when there are others.
      if (role === 'technician' && this.othersPresent(room)) {
        const reason = `their connection did not come back within ${Math.round(graceMs / 1000)} s`
        void this.technicianGone(room, reason).catch(this.logError)
        return
      }
      void this.end(room, {
        type: 'ended',
        by: 'gateway',
        reason: restarting
          ? `the end user's computer did not come back from its restart within ${graceMs >= 60_000 ? `${Math.round(graceMs / 60_000)} min` : `${Math.round(graceMs / 1000)} s`}`
          : `the ${roleName[role]}'s connection did not come back within ${Math.round(graceMs / 1000)} s`,
        code: 'connectionLost',
      }).catch(this.logError)
    }, graceMs)
  }

  /**
   * A side coming back: it must sign a fresh challenge with the key it gave after pairing, so a
   * proof seen once is good for nothing else. Then it takes its place again (replacing a link the
   * gateway still thought alive) and, once both sides are there, the relay goes on.
   */
  private challenge(socket: WebSocket, admission: Extract<Admission, { via: 'resume' }>): void {
    const nonce = resumeNonce()
    const refuse = (reason: string) => {
      socket.close(CloseCode.resumeRefused, reason)
      setTimeout(() => socket.terminate(), 2000).unref()
    }
    const timer = setTimeout(() => refuse('no resume proof in time'), RESUME_PROOF_TIMEOUT_MS)
    const onMessage = (data: Buffer, isBinary: boolean) => {
      socket.off('message', onMessage)
      clearTimeout(timer)
      const message = isBinary ? undefined : decodeResumeMessage(data)
      const room = this.roomOf(admission.sessionId)
      const key = room?.resumeKeys[admission.role]
      const proven =
        message?.type === 'resume' &&
        key !== undefined &&
        verifyResume(key, admission.sessionId, admission.role, nonce, message.proof)
      if (!room || room.ended || !proven) {
        this.options.onResumeRefused?.(admission.address)
        if (room && !room.ended) this.logEvent(room, 'resume-refused', admission.role)
        this.options.onLog?.(
          `session ${admission.sessionId}: refused a resume as ${admission.role} from ${admission.address}`,
        )
        return refuse('the resume proof did not check out')
      }
      this.rejoin(room, socket, admission)
    }
    socket.on('message', onMessage)
    socket.on('close', () => clearTimeout(timer))
    send(socket, { type: 'resume-challenge', nonce })
  }

  private rejoin(room: Room, socket: WebSocket, admission: Extract<Admission, { via: 'resume' }>): void {
    const { role } = admission
    const old = room.peers[role]
    if (old) {
      // The gateway had not noticed this link was gone: the new one replaces it.
      delete room.peers[role]
      clearInterval(old.heartbeat)
      old.socket.terminate()
    }
    room.unrelay?.()
    room.unrelay = undefined
    clearTimeout(room.lost[role])
    delete room.lost[role]
    const peer = this.newPeer(role, socket, admission.address)
    room.peers[role] = peer
    this.watch(room, peer)
    this.recordReports(room, peer, role)
    // A host back from a restart starts a new stream and SSH: both sides are told so.
    const restarted = role === 'host' && room.restarting === true
    if (restarted) {
      room.restarting = false
      room.rebootGraceMs = undefined
    }
    this.logEvent(room, restarted ? 'restarted' : 'link-restored', role)
    this.options.onLog?.(
      `session ${room.sessionId}: the ${roleName[role]} is back${restarted ? ' from a restart' : ''} (${admission.address})`,
    )
    const { host, technician } = room.peers
    if (host && room.technicianLeft && room.technician) {
      // Its technician left while it was away: told again, and back without them.
      send(host.socket, {
        type: 'left',
        technician: identityOf(room.technician),
        reason: 'they left the session',
      })
      send(host.socket, { type: 'resumed', sessionId: room.sessionId })
      return
    }
    if (!host || !technician) return
    this.relay(room, host, technician)
    for (const side of [host, technician])
      send(side.socket, { type: 'resumed', sessionId: room.sessionId, ...(restarted ? { restarted } : {}) })
  }

  private relay(room: Room, host: Peer, technician: Peer): void {
    const { tap } = this.options
    const stops = [
      relayOneWay(host, technician, this.stats, tap && ((frame) => tap('host', frame))),
      relayOneWay(technician, host, this.stats, tap && ((frame) => tap('technician', frame))),
    ]
    room.unrelay = () => stops.forEach((stop) => stop())
  }

  /** Something the gateway itself saw happen to a session, for its log (never payload). */
  private logEvent(room: Room, event: string, kind: Role): void {
    if (room.reports >= MAX_REPORTS_PER_SESSION) return
    void this.sessionLog.add({
      id: newId(),
      session_id: room.sessionId,
      seq: ++room.reports,
      at: new Date().toISOString(),
      source: 'gateway',
      event,
      kind,
      allowed: null,
      detail: null,
    })
  }

  /** Ends every room, telling both sides; used when the gateway shuts down. Returns how many it ended. */
  async closeAll(reason: string): Promise<number> {
    const rooms = [...this.rooms.values()]
    // connectionLost: for both sides the gateway is gone, as when the link breaks (exit 11).
    await Promise.all(
      rooms.map((room) => this.end(room, { type: 'ended', by: 'gateway', reason, code: 'connectionLost' })),
    )
    await this.sessionLog.flush()
    return rooms.length
  }

  /** The room this admission goes to: found, or made for the first of a PIN's peers or a queue's end user. */
  private roomFor(admission: Exclude<Admission, { via: 'resume' }>): Room | undefined {
    if (admission.via === 'queue' || admission.via === 'invite') {
      const room = this.roomOf(admission.sessionId)
      return admission.via === 'invite' && !room?.invitation ? undefined : room
    }
    const key = admission.via === 'pin' ? `pin:${admission.pin.id}` : ''
    const existing = key ? this.rooms.get(key) : undefined
    if (existing) return existing
    const sessionId = newId()
    const expiresAt =
      admission.via === 'pin'
        ? admission.pin.expires_at
        : new Date(Date.now() + CHANNEL_WAIT_MS).toISOString()
    const room: Room = {
      sessionId,
      key: key || `session:${sessionId}`,
      ...(admission.via === 'pin' ? { pin: admission.pin, technician: admission.technician } : {}),
      ...(admission.via === 'channel' ? { channel: admission.channel } : {}),
      expiresAt,
      ...(admission.role === 'host' ? { loggedHostAddress: admission.address } : {}),
      peers: {},
      paired: false,
      reports: 0,
      ended: false,
      resumeKeys: {},
      graceMs: {},
      lost: {},
      expiry: setTimeout(
        () =>
          void this.end(room, {
            type: 'ended',
            by: 'gateway',
            reason: room.pin
              ? 'the PIN expired before both sides joined'
              : 'no technician took the session in time',
            code: 'pinExpired',
          }).catch(this.logError),
        Math.max(0, Date.parse(expiresAt) - Date.now()),
      ),
      logged: this.options.store.insertSession({
        id: sessionId,
        pin_id: admission.via === 'pin' ? admission.pin.id : null,
        technician_id: admission.via === 'pin' ? admission.technician.id : null,
        channel_id: admission.via === 'channel' ? admission.channel.id : null,
        taken_by: null,
        created_at: new Date().toISOString(),
        paired_at: null,
        ended_at: null,
        ended_by: null,
        end_reason: null,
        host_address: admission.role === 'host' ? admission.address : null,
        technician_address: null,
        gateway_id: this.options.gatewayId,
      }),
    }
    this.rooms.set(room.key, room)
    room.logged.catch(this.logError)
    const queue =
      admission.via === 'pin' ? `PIN of ${admission.technician.email}` : `channel ${admission.channel.name}`
    this.options.onLog?.(`session ${room.sessionId}: waiting (${queue})`)
    return room
  }

  private async pair(room: Room, host: Peer, technician: Peer): Promise<void> {
    const now = new Date().toISOString()
    const taker = room.technician
    if (!taker)
      return this.end(room, { type: 'ended', by: 'gateway', reason: 'no technician', code: 'failure' })
    const { store } = this.options
    if (room.pin) {
      await room.logged
      // The PIN's use and the pairing in one go (one statement on PostgreSQL).
      if (
        !(await store.consumePinAndPair(room.pin.id, room.sessionId, now, host.address, technician.address))
      ) {
        await this.end(room, {
          type: 'ended',
          by: 'gateway',
          reason: 'the PIN was already used',
          code: 'failure',
        })
        return
      }
    }
    clearTimeout(room.expiry)
    room.paired = true
    room.wasPaired = true
    if (room.invitation) await store.setInvitationState(room.sessionId, 'joined', 'waiting')
    delete room.transferredFrom
    if (!room.pin) {
      await room.logged
      await store.pairSession(room.sessionId, now, host.address, technician.address)
    }
    const policy = await this.options.policyFor(taker)
    this.relay(room, host, technician)
    send(host.socket, {
      type: 'paired',
      sessionId: room.sessionId,
      technician: identityOf(taker),
      policy,
      ...(this.options.direct === false ? { direct: false } : {}),
    })
    send(technician.socket, {
      type: 'paired',
      sessionId: room.sessionId,
      ...(this.options.direct === false ? { direct: false } : {}),
    })
    this.recordReports(room, technician, 'technician')
    if (!room.hostReporting) this.recordReports(room, host, 'host')
    room.hostReporting = true
    this.options.onLog?.(`session ${room.sessionId}: paired (${technician.address} with ${host.address})`)
  }

  /** Keeps what a side reports in the session log; anything else it sends as text is dropped. */
  private recordReports(room: Room, peer: Peer, source: Role): void {
    peer.socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary || room.ended) return
      const message = decodePeerText(data)
      if (message?.type === 'resume-key')
        return this.keepResumeKey(room, source, message.key, message.graceMs)
      if (message?.type === 'rebooting') {
        if (source !== 'host' || !room.resumeKeys.host) return
        room.rebootGraceMs = Math.min(
          message.graceMs,
          this.options.maxRebootGraceMs ?? DEFAULT_MAX_REBOOT_GRACE_MS,
        )
        this.logEvent(room, 'rebooting', 'host')
        return
      }
      if (room.reports >= MAX_REPORTS_PER_SESSION || message?.type !== 'report') return
      const report = message
      const seq = ++room.reports
      void this.sessionLog.add({
        id: newId(),
        session_id: room.sessionId,
        seq,
        at: new Date().toISOString(),
        source,
        ...this.logEntry(room.sessionId, report),
      })
    })
  }

  /** The first key a side sends stays: a later one (from anyone) cannot take the session over. */
  private keepResumeKey(room: Room, role: Role, key: string, graceMs: number): void {
    if (room.resumeKeys[role]) return
    room.resumeKeys[role] = key
    room.graceMs[role] = graceMs
    room.logged.then(() => this.options.store.setResumeKey(room.sessionId, role, key)).catch(this.logError)
  }

  /** A report as a log row: what anyone may query in the clear, and the rest sealed. */
  private logEntry(
    sessionId: string,
    report: SessionReportMessage,
  ): Pick<SessionEventsTable, 'event' | 'kind' | 'allowed' | 'detail'> {
    const seal = (detail: object) => this.options.logCipher.seal(JSON.stringify(detail), sessionId)
    switch (report.event) {
      case 'file-transfer': {
        const { type: _type, event, direction, ...detail } = report
        return { event, kind: direction, allowed: null, detail: seal(detail) }
      }
      case 'chat':
        return { event: 'chat', kind: report.from, allowed: null, detail: seal({ text: report.text }) }
      case 'host-name':
        return { event: 'host-name', kind: 'host', allowed: null, detail: seal({ name: report.name }) }
      case 'words-confirmed':
      case 'words-rejected':
        return {
          event: report.event,
          kind: report.by,
          allowed: report.event === 'words-confirmed' ? 1 : 0,
          detail: null,
        }
      default:
        return {
          event: report.event,
          kind: report.kind,
          allowed: report.allowed === undefined ? null : report.allowed ? 1 : 0,
          detail: null,
        }
    }
  }

  private checkAlive(peer: Peer): void {
    // A paused socket is not read, so its pongs wait unread: the slow side is the other one.
    if (peer.paused) return
    if (!peer.alive) {
      peer.socket.terminate()
      return
    }
    peer.alive = false
    peer.socket.ping()
  }

  /**
   * Hands a paired session to `to`: the current technician is let go, the host is told who comes
   * next, and the session waits in `to`'s own queue for a fresh sealed pairing.
   */
  async transfer(sessionId: string, from: UserWithOrganisation, to: UserWithOrganisation): Promise<void> {
    const room = [...this.rooms.values()].find((candidate) => candidate.sessionId === sessionId)
    if (!room || room.ended || !room.paired || room.technicianLeft || room.technician?.id !== from.id) {
      throw new UserError('failure', 'that is not a live session of yours')
    }
    const { host, technician } = room.peers
    if (!host || !technician) throw new UserError('failure', 'that session is not paired')
    room.unrelay?.()
    room.paired = false
    room.technician = to
    room.transferredFrom = from.email
    delete room.pin
    delete room.channel
    delete room.peers.technician
    room.expiresAt = new Date(Date.now() + TRANSFER_WAIT_MS).toISOString()
    room.hostSince = new Date().toISOString()
    room.expiry = setTimeout(
      () =>
        void this.end(room, {
          type: 'ended',
          by: 'gateway',
          reason: `${to.email} did not take the transferred session in time`,
          code: 'failure',
        }).catch(this.logError),
      TRANSFER_WAIT_MS,
    )
    await this.options.store.updateSession(sessionId, { technician_id: to.id, taken_by: null })
    send(host.socket, { type: 'transferred', sessionId, to: identityOf(to) })
    send(technician.socket, {
      type: 'ended',
      by: 'technician',
      reason: `you transferred the session to ${to.email}`,
    })
    clearInterval(technician.heartbeat)
    technician.socket.close(CloseCode.normal)
    this.options.onLog?.(`session ${sessionId}: transferred from ${from.email} to ${to.email}`)
  }

  /** Logs something the gateway refused about a session that is over (it has no room left). */
  async recordAfterEnd(sessionId: string, event: string, kind: Role): Promise<void> {
    const { store } = this.options
    await this.sessionLog.flush()
    const seq = (await store.listSessionEvents(sessionId)).length + 1
    await store.insertSessionEvent({
      id: newId(),
      session_id: sessionId,
      seq,
      at: new Date().toISOString(),
      source: 'gateway',
      event,
      kind,
      allowed: 0,
      detail: null,
    })
  }

  /** The session `sessionId` belongs to: the one its technician was invited into, or itself. */
  leadSessionOf(sessionId: string): string {
    return this.roomOf(sessionId)?.invitation?.parentId ?? sessionId
  }

  /** The live, paired session `sessionId` led by `lead`, or a UserError saying why not. */
  private ledBy(sessionId: string, lead: UserWithOrganisation): Room {
    const room = this.roomOf(sessionId)
    if (!room || room.ended || !room.paired || room.invitation) {
      throw new UserError(
        'failure',
        `no live session ${sessionId} of yours`,
        'rescue connect prints the session id',
      )
    }
    const present = this.present(room).some((user) => user.id === lead.id)
    if (!present)
      throw new UserError(
        'failure',
        `no live session ${sessionId} of yours`,
        'rescue connect prints the session id',
      )
    if ((room.leadId ?? room.technician?.id) !== lead.id) {
      throw new UserError(
        'forbidden',
        'only the lead technician of this session may do that',
        'ask the lead to hand the lead over (rescue lead)',
      )
    }
    return room
  }

  /** The technicians in a session now: its own, and those invited who paired and were not removed. */
  private present(room: Room): UserWithOrganisation[] {
    const invited = [...this.rooms.values()].filter(
      (child) => child.invitation?.parentId === room.sessionId && child.paired && !child.ended,
    )
    const own = room.technicianLeft ? undefined : room.technician
    return [own, ...invited.map((child) => child.technician)].filter(
      (user): user is UserWithOrganisation => user !== undefined,
    )
  }

  /**
   * The lead invites `to` into the session: a session of their own waits for them (in their
   * queue) and for the end user's side, which is told over its link (with the secret it joins
   * with) and pairs afresh with them, words and all. Returns the invitee's session id.
   */
  async invite(sessionId: string, lead: UserWithOrganisation, to: UserWithOrganisation): Promise<string> {
    const room = this.ledBy(sessionId, lead)
    const waiting = [...this.rooms.values()].some(
      (child) =>
        child.invitation?.parentId === room.sessionId && !child.ended && child.technician?.id === to.id,
    )
    // Someone who left may be invited again: they pair afresh, like anyone invited.
    if (waiting || this.present(room).some((user) => user.id === to.id)) {
      throw new UserError('conflict', `${to.email} is already in this session, or invited to it`)
    }
    const host = room.peers.host
    if (!host) throw new UserError('failure', "the end user's link is down", 'try again once it is back')
    const childId = newId()
    const secret = newToken()
    const now = new Date()
    const expiresAt = new Date(now.getTime() + INVITATION_WAIT_MS).toISOString()
    const child: Room = {
      sessionId: childId,
      key: `session:${childId}`,
      technician: to,
      invitation: { parentId: room.sessionId, from: lead },
      expiresAt,
      peers: {},
      paired: false,
      reports: 0,
      ended: false,
      resumeKeys: {},
      graceMs: {},
      lost: {},
      expiry: setTimeout(
        () =>
          void this.end(child, {
            type: 'ended',
            by: 'gateway',
            reason: `${to.email} did not join in time`,
            code: 'failure',
          }).catch(this.logError),
        INVITATION_WAIT_MS,
      ),
      logged: Promise.resolve(),
    }
    const { store } = this.options
    await store.insertSession({
      id: childId,
      pin_id: null,
      technician_id: to.id,
      channel_id: null,
      taken_by: null,
      created_at: now.toISOString(),
      paired_at: null,
      ended_at: null,
      ended_by: null,
      end_reason: null,
      host_address: host.address,
      technician_address: null,
      gateway_id: this.options.gatewayId,
    })
    await store.insertInvitation({
      id: childId,
      session_id: room.sessionId,
      from_id: lead.id,
      to_id: to.id,
      secret_hash: hashToken(secret),
      created_at: now.toISOString(),
      expires_at: expiresAt,
      state: 'waiting',
    })
    this.rooms.set(child.key, child)
    this.logEvent(room, 'invited', 'technician')
    send(host.socket, {
      type: 'invited',
      sessionId: childId,
      secret,
      to: identityOf(to),
      by: identityOf(lead),
    })
    this.options.onLog?.(`session ${room.sessionId}: ${lead.email} invited ${to.email} (session ${childId})`)
    return childId
  }

  /** The lead hands the lead to another technician present in the session; the end user is told. */
  async handOverLead(sessionId: string, lead: UserWithOrganisation, to: UserWithOrganisation): Promise<void> {
    const room = this.ledBy(sessionId, lead)
    if (!this.present(room).some((user) => user.id === to.id)) {
      throw new UserError('usage', `${to.email} is not in this session`, 'invite them first (rescue invite)')
    }
    room.leadId = to.id
    await this.options.store.updateSession(room.sessionId, { lead_id: to.id })
    if (room.peers.host) send(room.peers.host.socket, { type: 'lead', to: identityOf(to) })
    this.logEvent(room, 'lead', 'technician')
    this.options.onLog?.(`session ${room.sessionId}: ${lead.email} handed the lead to ${to.email}`)
  }

  private async onClose(room: Room, peer: Peer, code: number): Promise<void> {
    clearInterval(peer.heartbeat)
    // A technician let go by a transfer is no longer this room's.
    if (room.ended || room.peers[peer.role] !== peer) return
    const leaver = roleName[peer.role]
    if (!room.paired) {
      delete room.peers[peer.role]
      // The end user's side is the invitation's only way in: gone, the invited technician cannot pair.
      if (room.invitation && peer.role === 'host') {
        return this.end(room, { type: 'ended', by: 'host', reason: "the end user's side did not let you in" })
      }
      if (!room.peers.host && !room.peers.technician) {
        await this.end(room, { type: 'ended', by: peer.role, reason: `the ${leaver} left before pairing` })
      }
      return
    }
    if (isLinkDrop(code) && room.resumeKeys[peer.role]) return this.linkDropped(room, peer)
    // Only after the host said so in its own words, over its own link: the technician cannot ask it.
    if (code === CloseCode.rebooting && peer.role === 'host' && room.rebootGraceMs && room.resumeKeys.host) {
      room.restarting = true
      return this.linkDropped(room, peer)
    }
    if (code === CloseCode.removed && peer.role === 'host') room.removed = true
    if (peer.role === 'technician' && !room.invitation && !this.leads(room, room.technician)) {
      // Not the lead (they handed it over): only their own seat ends; the others go on.
      return this.technicianGone(room, 'they left the session')
    }
    const parent = room.invitation && this.roomOf(room.invitation.parentId)
    const lead = parent && !parent.ended && this.leads(parent, room.technician) ? parent : undefined
    if (lead && peer.role === 'technician') {
      // The lead left without handing the lead over: the session ends for everyone in it.
      const left = this.leadLeft(room.technician)
      void this.end(lead, left, left.reason).catch(this.logError)
    }
    const ended = endedByClose(peer.role, code)
    const leadGone = peer.role === 'technician' && !room.invitation
    await this.end(room, ended, leadGone ? this.leadLeft(room.technician).reason : undefined)
  }

  /** True when `user` leads the session `room` (a lead's room, not an invited one's). */
  private leads(room: Room, user: UserWithOrganisation | undefined): boolean {
    return user !== undefined && (room.leadId ?? room.technician?.id) === user.id
  }

  /** Why everyone else's session ends when the lead leaves without handing the lead over. */
  private leadLeft(lead: UserWithOrganisation | undefined): EndedMessage {
    return {
      type: 'ended',
      by: 'technician',
      reason: `the lead technician ${lead?.email ?? ''} ended the session`,
    }
  }

  /** Technicians other than the session's own are in it now (invited, paired, not removed). */
  private othersPresent(room: Room): boolean {
    if (room.invitation) return false
    return this.present(room).some((user) => user.id !== room.technician?.id)
  }

  /**
   * The session's own technician is gone while others go on: their seat ends (and their resume
   * key with it: who left on purpose needs a new invitation), the end user's side is told, and the
   * lead passes on if it was theirs.
   */
  private async technicianGone(room: Room, reason: string): Promise<void> {
    const who = room.technician
    if (room.ended || room.technicianLeft || !who) return
    room.technicianLeft = true
    const peer = room.peers.technician
    if (peer) {
      delete room.peers.technician
      clearInterval(peer.heartbeat)
      send(peer.socket, { type: 'ended', by: 'technician', reason: 'you left the session; the others go on' })
      peer.socket.close(CloseCode.normal)
      setTimeout(() => peer.socket.terminate(), 2000).unref()
    }
    clearTimeout(room.lost.technician)
    delete room.lost.technician
    room.unrelay?.()
    room.unrelay = undefined
    delete room.resumeKeys.technician
    if (room.peers.host) send(room.peers.host.socket, { type: 'left', technician: identityOf(who), reason })
    this.logEvent(room, 'technician-left', 'technician')
    this.options.onLog?.(`session ${room.sessionId}: ${who.email} left (${reason}); the others go on`)
    await room.logged
    await this.options.store.dropTechnicianResumeKey(room.sessionId)
    if (this.leads(room, who)) await this.passLead(room)
  }

  /** The lead is gone while others are here: the one present longest leads now, and the end user is told. */
  private async passLead(room: Room): Promise<void> {
    const next = this.present(room)[0]
    if (room.ended || !next || this.leads(room, next)) return
    room.leadId = next.id
    await this.options.store.updateSession(room.sessionId, { lead_id: next.id })
    if (room.peers.host) send(room.peers.host.socket, { type: 'lead', to: identityOf(next) })
    this.logEvent(room, 'lead', 'technician')
    this.options.onLog?.(`session ${room.sessionId}: the lead passed to ${next.email}`)
  }

  /** A paired side's link dropped: stop relaying, tell the other side, and hold the place. */
  private linkDropped(room: Room, peer: Peer): void {
    delete room.peers[peer.role]
    room.unrelay?.()
    room.unrelay = undefined
    this.holdLost(room, peer.role)
    const other = room.peers[peer.role === 'host' ? 'technician' : 'host']
    const restarting = peer.role === 'host' && room.restarting === true
    if (other)
      send(other.socket, {
        type: 'peer-lost',
        role: peer.role,
        graceMs: this.graceOf(room, peer.role),
        ...(restarting ? { restarting } : {}),
      })
    this.logEvent(room, 'link-lost', peer.role)
    this.options.onLog?.(`session ${room.sessionId}: lost the ${roleName[peer.role]}, holding it for resume`)
  }

  /** Ends a room; the rooms of technicians invited into it end too, with `childReason` when given. */
  private async end(room: Room, message: EndedMessage, childReason?: string): Promise<void> {
    if (room.ended) return
    room.ended = true
    // The technicians invited into it leave with it (their end user's side leaves them too), told
    // first: before the end user's side, told now too, closes their links itself.
    const children = [...this.rooms.values()].filter((r) => r.invitation?.parentId === room.sessionId)
    const ending = children.map((child) =>
      this.end(child, {
        type: 'ended',
        by: message.by,
        reason: childReason ?? `the session you were invited into ended: ${message.reason}`,
      }),
    )
    clearTimeout(room.expiry)
    for (const timer of Object.values(room.lost)) clearTimeout(timer)
    this.rooms.delete(room.key)
    for (const peer of Object.values(room.peers)) {
      clearInterval(peer.heartbeat)
      send(peer.socket, message)
      peer.socket.close(CloseCode.normal)
      // A peer that does not finish the closing handshake is cut off.
      setTimeout(() => peer.socket.terminate(), 2000).unref()
    }
    await room.logged
    // Nobody took or paired it (an end user who left the queue, a flood of joins): no row kept, and
    // the PIN's room may start again on any gateway.
    if (!room.wasPaired) {
      await this.options.store.deleteUnpairedSession(room.sessionId)
      if (room.pin) await this.options.store.releasePinRoom(room.pin.id, this.options.gatewayId)
    }
    // Only while this gateway holds it: a room another gateway took over (this one was cut off
    // from the clients) lives on there.
    await this.options.store.endSession(room.sessionId, this.options.gatewayId, {
      ended_at: new Date().toISOString(),
      ended_by: message.by,
      end_reason: message.reason,
    })
    if (room.invitation || room.restored) {
      await this.options.store.setInvitationState(room.sessionId, room.removed ? 'removed' : 'ended')
    }
    await Promise.all(ending)
    // The lead removed by the end user, or whose link did not come back: the next one present leads.
    const parent = room.invitation && this.roomOf(room.invitation.parentId)
    if (parent && !parent.ended && this.leads(parent, room.technician)) await this.passLead(parent)
    if (room.wasPaired) this.options.onSessionEnded?.(room.sessionId)
    this.options.onLog?.(`session ${room.sessionId}: ended by ${message.by}: ${message.reason}`)
  }
}

/** The end user is there and no technician has joined yet. */
function isWaiting(room: Room): boolean {
  return !room.ended && !room.paired && room.peers.host !== undefined && room.peers.technician === undefined
}
