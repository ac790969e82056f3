/**
 * What `rescue login` asks, on a terminal (hidden prompts; a new password twice) or from stdin
 * with --password-stdin (one line each, in the order the gateway asks: password, TOTP code, new
 * password). The TOTP enrolment's otpauth:// URI and QR code go to stderr, never stdout.
 */
import { promptHidden, StdinLines } from './read-secret.js'
import { checkNewPassword } from '../core/accounts/password-policy.js'
import type { LoginPrompts } from '../core/client/login-flow.js'
import { UserError } from '../core/errors.js'

const REASONS = {
  'first-login': 'This is your first login with a one-time password: choose your own.',
  expired: 'Your password is too old: choose a new one.',
} as const

async function showEnrolment(otpauthUri: string): Promise<void> {
  const { default: QRCode } = await import('qrcode')
  const qr = await QRCode.toString(otpauthUri, { type: 'utf8', errorCorrectionLevel: 'M' })
  process.stderr.write(
    [
      'Your group requires a second factor. Scan this QR code with an authenticator app,',
      'or add this URI to it (it holds your secret: keep it to yourself):',
      '',
      qr,
      otpauthUri,
      '',
    ].join('\n'),
  )
}

export function terminalPrompts(email: string): LoginPrompts {
  return {
    password: () => promptHidden(`Password for ${email}: `),
    async totp({ otpauthUri }) {
      if (otpauthUri) await showEnrolment(otpauthUri)
      return promptHidden('Code from your authenticator app: ')
    },
    async newPassword(reason) {
      process.stderr.write(`${REASONS[reason ?? 'expired']}\n`)
      for (let attempt = 0; attempt < 3; attempt++) {
        const first = await promptHidden('New password (at least 12 characters, hard to guess): ')
        try {
          await checkNewPassword(first, { email })
        } catch (error) {
          if (!(error instanceof UserError)) throw error
          process.stderr.write(`${error.message}; ${error.hint ?? ''}\n`)
          continue
        }
        if ((await promptHidden('The same again: ')) === first) return first
        process.stderr.write('the two did not match\n')
      }
      throw new UserError('usage', 'no new password was chosen', 'run rescue login again')
    },
  }
}

export function stdinPrompts(email: string, lines: StdinLines): LoginPrompts {
  return {
    password: () => lines.next('password'),
    async totp({ otpauthUri }) {
      if (otpauthUri) await showEnrolment(otpauthUri)
      return lines.next('TOTP code')
    },
    async newPassword(reason) {
      process.stderr.write(`${REASONS[reason ?? 'expired']} Reading it from the next line of stdin.\n`)
      const password = await lines.next('new password')
      await checkNewPassword(password, { email })
      return password
    },
  }
}
