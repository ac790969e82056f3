import { serverFlag } from '../../../cli/admin-flags.js'
import { formatUsers } from '../../../cli/admin-format.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { UserSummary } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminUsersList extends BaseCommand {
  static override summary = 'List technicians and admins: role, groups, 2FA, locked or not'
  static override description =
    'Masters see every account; an admin sees the accounts in the groups they administer.'
  static override examples = [
    '<%= config.bin %> admin users list',
    '<%= config.bin %> admin users list --json',
  ]
  static override flags = { server: serverFlag }

  async run(): Promise<{ users: UserSummary[] }> {
    const { flags } = await this.parse(AdminUsersList)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.listUsers(server, token)
    for (const line of formatUsers(result.users)) this.log(line)
    return result
  }
}
