/**
 * The technician's side of a hardened login: sends email and password, and when the gateway
 * answers that it needs more (a TOTP code, with an otpauth:// URI the first time; a new password)
 * asks for it through the caller's prompts and sends the whole attempt again. Imports core only.
 */
import { api } from './index.js'
import type { LoginChallenge, LoginResult } from '../accounts/index.js'
import { BugError } from '../errors.js'

export interface LoginPrompts {
  password(): Promise<string>
  /** A code from the authenticator app; with `otpauthUri`, the app has to enrol it first. */
  totp(enrolment: { otpauthUri?: string }): Promise<string>
  /** A new password, checked and confirmed by the prompt. */
  newPassword(reason: LoginChallenge['passwordReason']): Promise<string>
}

export async function loginWithPrompts(
  server: string,
  email: string,
  prompts: LoginPrompts,
): Promise<LoginResult> {
  const attempt: { email: string; password: string; totp?: string; newPassword?: string } = {
    email,
    password: await prompts.password(),
  }
  // Two rounds: the password alone, then everything the gateway asked for.
  for (let round = 0; round < 2; round++) {
    const reply = await api.login(server, attempt)
    if (!('needs' in reply)) return reply
    for (const need of reply.needs) {
      if (need === 'totp')
        attempt.totp = await prompts.totp({ ...(reply.otpauthUri ? { otpauthUri: reply.otpauthUri } : {}) })
      else attempt.newPassword = await prompts.newPassword(reply.passwordReason)
    }
  }
  throw new BugError('the gateway kept asking for more after every answer')
}
