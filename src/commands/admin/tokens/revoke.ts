import { Args } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { ScriptTokenSummary } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminTokensRevoke extends BaseCommand {
  static override summary = 'Revoke a script token: it stops working at once'
  static override examples = [
    '<%= config.bin %> admin tokens revoke ci',
    '<%= config.bin %> admin tokens revoke ci --json',
  ]
  static override args = { name: Args.string({ description: "the token's name", required: true }) }
  static override flags = { server: serverFlag }

  async run(): Promise<{ token: ScriptTokenSummary }> {
    const { args, flags } = await this.parse(AdminTokensRevoke)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.revokeToken(server, token, args.name)
    this.log(`revoked the token ${sanitizeForTerminal(result.token.name)}`)
    return result
  }
}
