import { Args, Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { ChannelLinkSummary } from '../../../core/accounts/index.js'
import { formatChannelLink } from '../../../core/client/channel-link.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminChannelsCreate extends BaseCommand {
  static override summary =
    "Make a channel link: the secret that lets end users into a group's shared queue; printed once"
  static override description =
    'End users join the queue with rescue host --channel LINK (or RESCUE_CHANNEL_LINK=LINK, or the link on stdin with --channel -). The link names this gateway and carries a 256-bit secret that the gateway keeps only hashed; a group name alone lets nobody in. Revoke it with rescue admin channels revoke NAME: nobody new gets in with it.'

  static override examples = [
    '<%= config.bin %> admin channels create helpdesk',
    '<%= config.bin %> admin channels create helpdesk --name helpdesk-web --json',
  ]

  static override args = {
    group: Args.string({ description: 'the group whose shared queue the link opens', required: true }),
  }

  static override flags = {
    name: Flags.string({ description: "a name for the link (unique) [default: the group's name]" }),
    server: serverFlag,
  }

  async run(): Promise<ChannelLinkSummary & { link: string }> {
    const { args, flags } = await this.parse(AdminChannelsCreate)
    const { server, token } = requireLogin(flags.server)
    const { secret, ...summary } = await api.admin.createChannelLink(server, token, {
      group: args.group,
      ...(flags.name ? { name: flags.name } : {}),
    })
    const link = formatChannelLink(server, secret)
    this.logToStderr(
      `channel link ${sanitizeForTerminal(summary.name)} to the shared queue of ${sanitizeForTerminal(summary.group)}; shown once, give it to end users as a secret:`,
    )
    this.log(sanitizeForTerminal(link, 500))
    return { ...summary, link }
  }
}
