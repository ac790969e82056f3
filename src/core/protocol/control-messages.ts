/**
 * The wire protocol the gateway and its clients share (core/gateway, core/client, core/session
 * import it; it imports none of them): the control messages the gateway sends to a peer as
 * WebSocket text frames, the reports a peer sends it the same way, the paths and headers of the
 * upgrade, the session policy and what a queue lists. Binary frames are the peers' own bytes, relayed untouched;
 * the gateway never sends binary and never reads it.
 */
import { z } from 'zod'
import { permissions, type Permission } from '../consent/types.js'

export const roles = ['host', 'technician'] as const
export type Role = (typeof roles)[number]
export type EndedBy = Role | 'gateway'

/** How each role is named to people. */
export const roleName: Record<Role, string> = { host: 'end user', technician: 'technician' }

const identity = z.object({ name: z.string(), email: z.string(), organisation: z.string() })

export const controlMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('waiting'),
    sessionId: z.string(),
    /** When the wait ends: the PIN's expiry, or how long a shared queue keeps an end user. */
    expiresAt: z.iso.datetime(),
    heartbeatMs: z.number().int().positive(),
    /** How this side came in (absent from older gateways: a PIN). */
    via: z.enum(['pin', 'channel', 'queue']).optional(),
    /** The group whose shared queue the end user waits in. */
    channel: z.string().max(100).optional(),
  }),
  z.object({
    type: z.literal('paired'),
    sessionId: z.string(),
    technician: identity.optional(),
    /**
     * To the host only, over its own connection: what the technician's groups let them ask for.
     * The host refuses anything else, whatever the end user would answer.
     */
    policy: z
      .object({
        permissions: z.array(z.enum(permissions)),
        recording: z.enum(['off', 'required', 'required-input']).optional(),
      })
      .optional(),
    /** False when the gateway allows no direct link between the sides (`rescue server --no-direct`). */
    direct: z.boolean().optional(),
  }),
  /**
   * To the host: its technician handed the session to another, who must pair afresh. Everything
   * granted so far is void; `to` is who comes next, as the gateway vouches for them.
   */
  z.object({ type: z.literal('transferred'), sessionId: z.string(), to: identity }),
  /**
   * To the host, over its link of the session `to` was invited into (rescue invite): `to` waits to
   * pair in a session of their own, `sessionId`, which the host joins with `secret` (a fresh
   * sealed pairing, with words of its own, that the end user must let in).
   */
  z.object({
    type: z.literal('invited'),
    sessionId: z.string().regex(/^[a-z0-9]{1,64}$/),
    secret: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/),
    to: identity,
    by: identity,
  }),
  /** To the host: the lead of the session is now `to` (rescue lead). */
  z.object({ type: z.literal('lead'), to: identity }),
  /**
   * To the host, over its link of the session: the technician it paired with there left (after
   * handing the lead over, or their link did not come back) while others go on in their own
   * sessions. The link stays up for the news about them; nothing more is relayed on it.
   */
  z.object({ type: z.literal('left'), technician: identity, reason: z.string().max(400) }),
  /**
   * The other side's link dropped; the gateway holds the session for it for `graceMs`. `restarting`:
   * the host said it is restarting its computer (`rescue reboot`), so the wait is a reboot's.
   */
  z.object({
    type: z.literal('peer-lost'),
    role: z.enum(roles),
    graceMs: z.number().int().nonnegative(),
    restarting: z.boolean().optional(),
  }),
  /** First on a resuming link: sign this to prove the session is yours (resume-proof.ts). */
  z.object({ type: z.literal('resume-challenge'), nonce: z.string().regex(/^[A-Za-z0-9+/=]{44}$/) }),
  /**
   * Both sides' links are up again: each sends its RESUME frame and the stream goes on. `restarted`:
   * the host came back from a restart with a fresh stream (a new SSH), not a resumed one.
   */
  z.object({ type: z.literal('resumed'), sessionId: z.string(), restarted: z.boolean().optional() }),
  z.object({
    type: z.literal('ended'),
    by: z.enum(['host', 'technician', 'gateway']),
    reason: z.string(),
    // Set when the gateway ended it for a reason with its own exit code (expired PIN, lost peer).
    code: z
      .enum(['pinExpired', 'connectionLost', 'pairingFailed', 'rateLimited', 'failure', 'untrusted'])
      .optional(),
  }),
])

export type ControlMessage = z.infer<typeof controlMessage>

/** A text frame off the network as `schema` says, or undefined for anything else: never trusted, never thrown. */
function decodeJson<T>(schema: z.ZodType<T>, data: Uint8Array): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(data).toString('utf8')))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

/** Decodes a control message off the network; undefined for anything that is not one. */
export function decodeControlMessage(data: Uint8Array): ControlMessage | undefined {
  return decodeJson(controlMessage, data)
}
export type EndedMessage = Extract<ControlMessage, { type: 'ended' }>

/** Why a session ended when the end user said the security words differ: on both screens and in both logs. */
export const WORDS_MISMATCH =
  'the security words did not match: someone may be between you and your technician'
/** Why a session ended when nobody confirmed the security words in time. */
export const WORDS_UNCONFIRMED = 'the end user did not confirm the security words in time'

/** WebSocket close codes with a meaning in rescue (4000-4999 are the application's). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  /** Sent by the WebSocket library when a frame exceeds MAX_FRAME_BYTES. */
  messageTooBig: 1009,
  /** A peer rejected the other's pairing or sealed frames. */
  pairingFailed: 4400,
  /** The host refused the technician: no valid certificate from the organisation key it trusts. */
  untrusted: 4403,
  /** The gateway refused a connection it had already upgraded (a slot taken in a race). */
  conflict: 4409,
  /** The end user said the security words on their screen differ from the technician's. */
  wordsMismatch: 4401,
  /** The end user did not confirm the security words in time. */
  wordsUnconfirmed: 4402,
  /** A resume whose proof did not check out (4403 is a host's refusal of a device certificate). */
  resumeRefused: 4404,
  /** The host is restarting its computer (it said `rebooting` first): held for `rescue host --resume`. */
  rebooting: 4405,
  /** The end user removed this invited technician from the session. */
  removed: 4406,
} as const

/** Headers a peer sends on the upgrade request. The PIN is in a header, not the URL, so it stays out of access logs. */
export const PIN_HEADER = 'rescue-pin'
/** What older clients sent to join a group's shared queue by its bare name: refused now. */
export const CHANNEL_HEADER = 'rescue-channel'
/** An end user joining a group's shared queue sends its channel link's secret here. */
export const CHANNEL_LINK_HEADER = 'rescue-channel-link'
/** A technician taking a waiting session from a queue names it here. */
export const SESSION_HEADER = 'rescue-session'
/** A side whose link dropped comes back to its paired session named here. */
export const RESUME_HEADER = 'rescue-resume'
/** The end user's side joins the session of a technician invited into its own with this secret. */
export const INVITATION_HEADER = 'rescue-invitation'

/**
 * How a peer asks to come in: with a PIN, into a group's shared queue, taking a queued session,
 * or back into its own paired session after a lost link.
 */
export type Entry =
  | { pin: string }
  | { channelSecret: string }
  | { sessionId: string }
  | { resume: string }
  | { invitation: string }

export const WS_PATH: Record<Role, string> = { host: '/v1/ws/host', technician: '/v1/ws/technician' }

/** The largest WebSocket message a peer may send; larger ones close the connection (1009). */
export const MAX_FRAME_BYTES = 2 * 1024 * 1024

/** Longest text a report may carry (a path, a chat line); longer ones are refused whole. */
export const MAX_REPORT_TEXT = 4000

/**
 * What either side reports to the gateway's session log, as a text frame after pairing: channel
 * opens and closes, consent outcomes, files that crossed (name, size, SHA-256) and chat lines;
 * never file contents, output or command lines. The gateway keeps which side said it.
 */
export const sessionReport = z.discriminatedUnion('event', [
  z.object({
    type: z.literal('report'),
    event: z.enum(['channel-open', 'channel-close', 'consent-decision']),
    kind: z.enum(['shell', 'exec', 'sftp', ...permissions]),
    allowed: z.boolean().optional(),
  }),
  z.object({
    type: z.literal('report'),
    event: z.literal('file-transfer'),
    direction: z.enum(['to-host', 'from-host']),
    path: z.string().max(MAX_REPORT_TEXT),
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^([0-9a-f]{64})?$/),
    complete: z.boolean(),
  }),
  /** The host's: the end user confirmed the security words, or they did not (a "no", or no answer in time). */
  z.object({
    type: z.literal('report'),
    event: z.enum(['words-confirmed', 'words-rejected']),
    by: z.enum(['end-user', 'timeout']),
  }),
  z.object({
    type: z.literal('report'),
    event: z.literal('chat'),
    from: z.enum(['host', 'technician']),
    text: z.string().max(MAX_REPORT_TEXT),
  }),
  /** The host's, only when the end user chose to send it (`rescue host --send-hostname`): for reports. */
  z.object({ type: z.literal('report'), event: z.literal('host-name'), name: z.string().min(1).max(255) }),
])
export type SessionReportMessage = z.infer<typeof sessionReport>

/** Decodes a peer's report; undefined for anything else, which the gateway drops. */
export function decodeSessionReport(data: Uint8Array): SessionReportMessage | undefined {
  return decodeJson(sessionReport, data)
}

/**
 * What a paired side tells the gateway about resuming, as text frames: right after pairing, the
 * public key its resume proofs will verify with (derived from the pairing, so only it can sign)
 * and the grace period it asks for; on a resuming link, the signed challenge.
 */
export const resumeMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('resume-key'),
    key: z.string().regex(/^[A-Za-z0-9+/=]{44}$/),
    graceMs: z
      .number()
      .int()
      .nonnegative()
      .max(24 * 60 * 60 * 1000),
  }),
  z.object({ type: z.literal('resume'), proof: z.string().regex(/^[A-Za-z0-9+/=]{88}$/) }),
  /** The host's, before it closes with CloseCode.rebooting: hold me this long for a restart. */
  z.object({
    type: z.literal('rebooting'),
    graceMs: z
      .number()
      .int()
      .positive()
      .max(24 * 60 * 60 * 1000),
  }),
])
export type ResumeMessage = z.infer<typeof resumeMessage>

/** Decodes a peer's resume message; undefined for anything else. */
export function decodeResumeMessage(data: Uint8Array): ResumeMessage | undefined {
  return decodeJson(resumeMessage, data)
}

/**
 * A paired side's text frame, read once: a report (most of them: one or two per file of a tree)
 * or a resume message; undefined for anything else, which the gateway drops.
 */
export function decodePeerText(data: Uint8Array): SessionReportMessage | ResumeMessage | undefined {
  try {
    const json: unknown = JSON.parse(Buffer.from(data).toString('utf8'))
    const isReport = (json as { type?: unknown } | null)?.type === 'report'
    const parsed = isReport ? sessionReport.safeParse(json) : resumeMessage.safeParse(json)
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

/** What a technician's groups let them ask for: sent to the host at pairing, which enforces it. */
export interface SessionPolicy {
  permissions: Permission[]
  /** Whether shells and commands must be recorded (accounts/policy.ts); `off` when absent. */
  recording?: 'off' | 'required' | 'required-input'
}

/** A session waiting in a queue, as `rescue queue` lists it. */
export interface QueuedSession {
  sessionId: string
  /** The group's name for a shared queue; absent for a PIN session (the technician's own queue). */
  channel?: string
  waitingSince: string
  hostAddress: string
  /** Set when another technician handed the session over: who (their email). */
  transferredFrom?: string
}
