/**
 * Why the host refused a request, as the technician reads it: the end user said no, nobody
 * answered in time, nobody sits at the host's terminal, the group's policy forbids it, or the
 * session ended. The host sends the typed reason (`Refusal`); the technician turns it into one
 * message and one exit code here, whichever way it travelled (the refusals subsystem, a transfer
 * answer, an SFTP status, the control socket's exit status).
 */
import { z } from 'zod'
import { ExitCode, UserError, type ErrorCode } from '../errors.js'
import { permissions, type DecidedBy, type Permission } from './types.js'
import { nounFor } from './wording.js'

/** What the host tells the technician about one refused request. */
export interface Refusal {
  permission: Permission
  by: DecidedBy
  /** How long the end user had, for a timeout. */
  seconds?: number
}

const decidedBy = z.enum([
  'end-user',
  'session-grant',
  'folder-grant',
  'transfer-grant',
  'auto-approve',
  'timeout',
  'no-terminal',
  'unknown-request',
  'ended',
  'revoked',
  'withdrawn',
  'policy',
])

/** Decodes a refusal from the other side; anything else is undefined, never trusted. */
export const refusalSchema = z.object({
  permission: z.enum(permissions),
  by: decidedBy,
  seconds: z.number().int().nonnegative().max(86_400).optional(),
})

/** "the end user denied the shell", "the end user did not answer within 60 s"... */
export function refusalMessage(refusal: Refusal): string {
  const what = nounFor(refusal.permission)
  switch (refusal.by) {
    case 'policy':
      return `your group's policy does not allow ${what} (${refusal.permission})`
    case 'timeout':
      return refusal.seconds !== undefined
        ? `the end user did not answer within ${refusal.seconds} s (${what})`
        : `the end user did not answer in time (${what})`
    case 'no-terminal':
      return `no one is at the host's terminal to allow ${what}`
    case 'ended':
      return `the session ended before the end user answered (${what})`
    case 'revoked':
      return `the end user revoked every grant while ${what} waited for an answer`
    case 'withdrawn':
      return `the request for ${what} was withdrawn before the end user answered`
    case 'unknown-request':
      return `the host does not know how to ask about ${what}`
    default:
      return `the end user denied ${what}`
  }
}

/** Policy refusals are 17 (forbidden), a session that ended 14, every other "no" 15 (denied). */
export function refusalCode(refusal: Refusal): ErrorCode {
  if (refusal.by === 'policy') return 'forbidden'
  if (refusal.by === 'ended') return 'sessionEnded'
  return 'denied'
}

const hints: Partial<Record<DecidedBy, string>> = {
  policy: 'ask an admin of your group to allow it (rescue admin groups set)',
  timeout: 'ask again once the end user is at their screen',
  'no-terminal': 'rescue host runs without a terminal: it allows only what its --auto-approve names',
  'end-user': 'talk to the end user before asking again',
}

/** The UserError a technician's command fails with. */
export function refusalError(refusal: Refusal): UserError {
  return new UserError(refusalCode(refusal), refusalMessage(refusal), hints[refusal.by])
}

/**
 * A refusal that crossed as text and an exit status (through the control socket, or an SFTP
 * status): the code from the status when it is one of ours, the text as the message.
 */
export function refusalFromStatus(status: number | undefined, text: string): UserError | undefined {
  const code = (['forbidden', 'sessionEnded', 'denied'] as const).find((name) => ExitCode[name] === status)
  if (!code) return undefined
  const message = text.replace(/^rescue: /, '').trim() || 'denied by the end user'
  return new UserError(code, message)
}

const REFUSAL_OPENINGS: Array<[string, ErrorCode]> = [
  ["your group's policy", 'forbidden'],
  ['the session ended', 'sessionEnded'],
  ['the end user denied', 'denied'],
  ['the end user did not answer', 'denied'],
  ['the end user revoked', 'denied'],
  ['no one is at the host', 'denied'],
  ['the request for', 'denied'],
  ['the host does not know how to ask', 'denied'],
  ['denied by the end user', 'denied'],
]

/**
 * The error code of a refusal that crossed as text only (an SFTP status message); undefined when
 * the text is not one of refusalMessage's.
 */
export function refusalCodeOfText(text: string): ErrorCode | undefined {
  return REFUSAL_OPENINGS.find(([opening]) => text.startsWith(opening))?.[1]
}
