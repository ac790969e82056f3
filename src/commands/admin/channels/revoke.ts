import { Args } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { ChannelLinkSummary } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminChannelsRevoke extends BaseCommand {
  static override summary = 'Revoke a channel link: nobody new gets into the queue with it'
  static override description =
    'End users already waiting stay in the queue; make a new link with rescue admin channels create.'
  static override examples = [
    '<%= config.bin %> admin channels revoke helpdesk',
    '<%= config.bin %> admin channels revoke helpdesk-web --json',
  ]
  static override args = { name: Args.string({ description: "the link's name", required: true }) }
  static override flags = { server: serverFlag }

  async run(): Promise<{ channel: ChannelLinkSummary }> {
    const { args, flags } = await this.parse(AdminChannelsRevoke)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.revokeChannelLink(server, token, args.name)
    this.log(
      `revoked the channel link ${sanitizeForTerminal(result.channel.name)} of ${sanitizeForTerminal(result.channel.group)}`,
    )
    return result
  }
}
