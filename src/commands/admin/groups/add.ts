import { Args } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { GroupSummary } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminGroupsAdd extends BaseCommand {
  static override summary = 'Create a technician group (masters only); it allows nothing until set'
  static override examples = [
    '<%= config.bin %> admin groups add helpdesk',
    '<%= config.bin %> admin groups add helpdesk --json',
  ]

  static override args = {
    name: Args.string({ description: 'lower-case letters, digits, ".", "-" and "_"', required: true }),
  }

  static override flags = { server: serverFlag }

  async run(): Promise<{ group: GroupSummary }> {
    const { args, flags } = await this.parse(AdminGroupsAdd)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.addGroup(server, token, args.name)
    this.log(
      `created group ${sanitizeForTerminal(result.group.name)}; allow permissions with rescue admin groups set`,
    )
    return result
  }
}
