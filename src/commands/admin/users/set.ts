import { Args, Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { formatUsers } from '../../../cli/admin-format.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { UserSummary } from '../../../core/accounts/index.js'
import { roles } from '../../../core/accounts/roles.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminUsersSet extends BaseCommand {
  static override summary = "Change a user's groups, role or name (their password and 2FA stay)"
  static override description =
    '--group and --admin-of replace the lists they name; what is not given stays. Masters may change anyone; an admin changes users within the groups they administer, and cannot make masters.'

  static override examples = [
    '<%= config.bin %> admin users set bob@acme.example --group helpdesk --group sales',
    '<%= config.bin %> admin users set dave@acme.example --role admin --admin-of helpdesk --json',
  ]

  static override args = { email: Args.string({ description: "the user's email", required: true }) }

  static override flags = {
    group: Flags.string({
      description: 'a group the user belongs to (repeat for more; replaces the list)',
      multiple: true,
    }),
    name: Flags.string({ description: 'the name end users see' }),
    role: Flags.string({ description: 'the role', options: [...roles] }),
    'admin-of': Flags.string({
      description: 'for --role admin: a group they administer (repeat for more; replaces the list)',
      multiple: true,
    }),
    server: serverFlag,
  }

  async run(): Promise<{ user: UserSummary }> {
    const { args, flags } = await this.parse(AdminUsersSet)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.setUser(server, token, args.email, {
      ...(flags.group ? { groups: flags.group } : {}),
      ...(flags.name ? { name: flags.name } : {}),
      ...(flags.role ? { role: flags.role as (typeof roles)[number] } : {}),
      ...(flags['admin-of'] ? { adminOf: flags['admin-of'] } : {}),
    })
    for (const line of formatUsers([result.user])) this.log(line)
    return result
  }
}
