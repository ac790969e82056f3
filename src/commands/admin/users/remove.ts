import { Args } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { UserSummary } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminUsersRemove extends BaseCommand {
  static override summary = 'Remove an account: its tokens and PINs stop working at once'
  static override examples = [
    '<%= config.bin %> admin users remove bob@acme.example',
    '<%= config.bin %> admin users remove bob@acme.example --json',
  ]

  static override args = { email: Args.string({ description: "the user's email", required: true }) }
  static override flags = { server: serverFlag }

  async run(): Promise<{ user: UserSummary }> {
    const { args, flags } = await this.parse(AdminUsersRemove)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.removeUser(server, token, args.email)
    this.log(`removed ${sanitizeForTerminal(result.user.email)}`)
    return result
  }
}
