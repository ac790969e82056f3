import { Args, Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { NewPassword } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminUsersResetPassword extends BaseCommand {
  static override summary =
    'Give a user a new one-time password, printed once; it also logs them out and unlocks them'
  static override description =
    'The next login must choose a new password. With --reset-2fa the user also enrols their authenticator app again (a lost phone).'

  static override examples = [
    '<%= config.bin %> admin users reset-password bob@acme.example',
    '<%= config.bin %> admin users reset-password bob@acme.example --reset-2fa --json',
  ]

  static override args = { email: Args.string({ description: "the user's email", required: true }) }
  static override flags = {
    'reset-2fa': Flags.boolean({ description: 'also forget their TOTP enrolment' }),
    server: serverFlag,
  }

  async run(): Promise<NewPassword> {
    const { args, flags } = await this.parse(AdminUsersResetPassword)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.resetPassword(server, token, args.email, flags['reset-2fa'])
    this.log(
      `reset the password of ${sanitizeForTerminal(result.user.email)}${flags['reset-2fa'] ? ' and their 2FA' : ''}`,
    )
    this.log(
      `one-time password (shown once; the next login must change it): ${sanitizeForTerminal(result.oneTimePassword)}`,
    )
    return result
  }
}
