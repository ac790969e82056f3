import { serverFlag } from '../../../cli/admin-flags.js'
import { formatTokens } from '../../../cli/admin-format.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { ScriptTokenSummary } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminTokensList extends BaseCommand {
  static override summary = 'List script tokens (never the tokens themselves)'
  static override examples = [
    '<%= config.bin %> admin tokens list',
    '<%= config.bin %> admin tokens list --json',
  ]
  static override flags = { server: serverFlag }

  async run(): Promise<{ tokens: ScriptTokenSummary[] }> {
    const { flags } = await this.parse(AdminTokensList)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.listTokens(server, token)
    for (const line of formatTokens(result.tokens)) this.log(line)
    return result
  }
}
