/**
 * `rescue invite` and `rescue lead`: the lead technician of a live session invites another (who
 * pairs with the end user afresh, words and all), or hands the lead to one present. What can be
 * checked here is, before anything is sent: the session id's form, the address, not oneself.
 * The gateway checks the rest (the session, the lead, the other technician, the policy).
 */
import type { TechnicianIdentity } from '../accounts/index.js'
import { api } from '../client/index.js'
import { UserError } from '../errors.js'
import { sanitizeForTerminal } from '../text/sanitize.js'

export interface InviteOptions {
  server: string
  token: string
  /** The caller's own email, as logged in (undefined with a bare RESCUE_TOKEN). */
  self?: string
  session: string
  to: string
}

/** Checks the request and returns it normalised; throws a usage error for what is wrong. */
function checked(options: InviteOptions, what: string): { session: string; to: string } {
  const session = options.session.trim().toLowerCase()
  if (!/^[a-z0-9]{1,64}$/.test(session)) {
    throw new UserError(
      'usage',
      `no such session: ${sanitizeForTerminal(options.session, 80)}`,
      'it is the "session …" line rescue connect printed once connected',
    )
  }
  const to = options.to.trim().toLowerCase()
  if (!/^[^\s@]+@[^\s@]+$/.test(to) || to.length > 320) {
    throw new UserError('usage', `not an email address: ${sanitizeForTerminal(options.to, 80)}`)
  }
  if (options.self && to === options.self.trim().toLowerCase()) {
    throw new UserError('usage', `you cannot ${what} yourself`, 'name another technician with --to')
  }
  return { session, to }
}

/** Invites `to` into the session; returns the session they pair in (also in their rescue queue). */
export async function inviteTechnician(
  options: InviteOptions,
): Promise<{ sessionId: string; to: TechnicianIdentity }> {
  const { session, to } = checked(options, 'invite')
  return api.invite(options.server, options.token, session, to)
}

/** Hands the lead of the session to `to`, a technician present in it. */
export async function handOverLead(
  options: InviteOptions,
): Promise<{ sessionId: string; lead: TechnicianIdentity }> {
  const { session, to } = checked(options, 'hand the lead to')
  return api.handOverLead(options.server, options.token, session, to)
}
