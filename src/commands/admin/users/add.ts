import { Args, Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import type { NewPassword } from '../../../core/accounts/index.js'
import { roles } from '../../../core/accounts/roles.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminUsersAdd extends BaseCommand {
  static override summary = 'Add a technician (or an admin) and print a one-time password, once'
  static override description =
    'The new user logs in with the one-time password and must choose their own at once. Masters may add anyone; an admin adds users to the groups they administer and cannot add masters.'

  static override examples = [
    '<%= config.bin %> admin users add bob@acme.example --group helpdesk',
    '<%= config.bin %> admin users add carol@acme.example --name "Carol King" --group helpdesk --group sales --json',
    '<%= config.bin %> admin users add dave@acme.example --group helpdesk --role admin --admin-of helpdesk',
  ]

  static override args = {
    email: Args.string({ description: "the user's email (their login)", required: true }),
  }

  static override flags = {
    group: Flags.string({ description: 'a group the user belongs to (repeat for more)', multiple: true }),
    name: Flags.string({ description: 'the name end users see [default: the part of the email before @]' }),
    role: Flags.string({ description: 'the role', options: [...roles], default: 'technician' }),
    'admin-of': Flags.string({
      description: 'for --role admin: a group they administer (repeat for more)',
      multiple: true,
    }),
    server: serverFlag,
  }

  async run(): Promise<NewPassword> {
    const { args, flags } = await this.parse(AdminUsersAdd)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.addUser(server, token, {
      email: args.email,
      groups: flags.group ?? [],
      role: flags.role as (typeof roles)[number],
      ...(flags.name ? { name: flags.name } : {}),
      ...(flags['admin-of'] ? { adminOf: flags['admin-of'] } : {}),
    })
    const who = sanitizeForTerminal(result.user.email)
    this.log(
      `added ${who} (${result.user.role}) to ${result.user.groups.map((g) => sanitizeForTerminal(g)).join(', ') || 'no group'}`,
    )
    this.log(
      `one-time password (shown once; the first login must change it): ${sanitizeForTerminal(result.oneTimePassword)}`,
    )
    return result
  }
}
