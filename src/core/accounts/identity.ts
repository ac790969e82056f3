/** What a peer may learn about a technician, and how emails are written. */
import { UserError } from '../errors.js'
import type { UserWithOrganisation } from '../store/index.js'

/** What a peer may learn about a technician: shown to the end user when paired. */
export interface TechnicianIdentity {
  name: string
  email: string
  organisation: string
}

export function identityOf(user: UserWithOrganisation): TechnicianIdentity {
  return { name: user.name, email: user.email, organisation: user.organisation_name }
}

const EMAIL = /^[^\s@]+@[^\s@]+$/

export function normaliseEmail(email: string): string {
  const trimmed = email.trim().toLowerCase()
  if (!EMAIL.test(trimmed)) throw new UserError('usage', `"${email}" is not an email address`)
  return trimmed
}
