import { serverFlag } from '../../../cli/admin-flags.js'
import { formatGroups } from '../../../cli/admin-format.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { GroupSummary } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminGroupsList extends BaseCommand {
  static override summary = 'List groups with their permissions, policy, members and admins'
  static override description = 'Masters see every group; an admin sees the groups they administer.'
  static override examples = [
    '<%= config.bin %> admin groups list',
    '<%= config.bin %> admin groups list --json',
  ]
  static override flags = { server: serverFlag }

  async run(): Promise<{ groups: GroupSummary[] }> {
    const { flags } = await this.parse(AdminGroupsList)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.listGroups(server, token)
    for (const line of formatGroups(result.groups)) this.log(line)
    return result
  }
}
