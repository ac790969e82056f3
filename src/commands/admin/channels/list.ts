import { serverFlag } from '../../../cli/admin-flags.js'
import { formatChannelLinks } from '../../../cli/admin-format.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { ChannelLinkSummary } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminChannelsList extends BaseCommand {
  static override summary = 'List channel links (never the links themselves: they are shown once)'
  static override examples = [
    '<%= config.bin %> admin channels list',
    '<%= config.bin %> admin channels list --json',
  ]
  static override flags = { server: serverFlag }

  async run(): Promise<{ channels: ChannelLinkSummary[] }> {
    const { flags } = await this.parse(AdminChannelsList)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.listChannelLinks(server, token)
    for (const line of formatChannelLinks(result.channels)) this.log(line)
    return result
  }
}
