import { Args } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { UserSummary } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminUsersUnlock extends BaseCommand {
  static override summary = 'Unlock an account locked after too many failed logins'
  static override description =
    'A lock also ends by itself after the time the gateway was started with (rescue server --lockout, 15 minutes by default).'

  static override examples = [
    '<%= config.bin %> admin users unlock bob@acme.example',
    '<%= config.bin %> admin users unlock bob@acme.example --json',
  ]

  static override args = { email: Args.string({ description: "the user's email", required: true }) }
  static override flags = { server: serverFlag }

  async run(): Promise<{ user: UserSummary }> {
    const { args, flags } = await this.parse(AdminUsersUnlock)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.unlockUser(server, token, args.email)
    this.log(`unlocked ${sanitizeForTerminal(result.user.email)}`)
    return result
  }
}
