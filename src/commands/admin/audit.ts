import { Flags } from '@oclif/core'
import { serverFlag } from '../../cli/admin-flags.js'
import { formatAudit } from '../../cli/admin-format.js'
import { BaseCommand } from '../../cli/base-command.js'
import type { AuditRecord } from '../../core/accounts/index.js'
import { api } from '../../core/client/index.js'
import { requireLogin } from '../../core/credentials/index.js'

export default class AdminAudit extends BaseCommand {
  static override summary = 'Show the admin audit trail: every login, lock, idle logout and admin action'
  static override description =
    'Who, what, when, from which address, and the state before and after; never a password, hash, secret or token. Masters see everything; an admin sees what concerns their groups and their members. Oldest first.'

  static override examples = [
    '<%= config.bin %> admin audit',
    '<%= config.bin %> admin audit --limit 20',
    '<%= config.bin %> admin audit --json',
  ]

  static override flags = {
    limit: Flags.integer({
      description: 'how many of the newest entries',
      default: 100,
      min: 1,
      max: 10_000,
    }),
    server: serverFlag,
  }

  async run(): Promise<{ entries: AuditRecord[] }> {
    const { flags } = await this.parse(AdminAudit)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.audit(server, token, flags.limit)
    for (const line of formatAudit(result.entries)) this.log(line)
    return result
  }
}
