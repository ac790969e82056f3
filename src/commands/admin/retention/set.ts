import { Args } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { api } from '../../../core/client/index.js'
import { parseRetention, type RetentionSetting } from '../../../core/compliance/index.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminRetentionSet extends BaseCommand {
  static override summary = 'Set how long the gateway keeps session logs, chat and recordings (default 2y)'
  static override description =
    'The gateway purges what is older by itself (within the hour) and writes each purge to the admin audit trail. Master admins only.'

  static override examples = [
    '<%= config.bin %> admin retention set 90d',
    '<%= config.bin %> admin retention set 2y',
  ]

  static override args = {
    period: Args.string({ description: 'days (90d), weeks (12w) or years of 365 days (2y)', required: true }),
  }
  static override flags = { server: serverFlag }

  async run(): Promise<{ retention: RetentionSetting }> {
    const { args, flags } = await this.parse(AdminRetentionSet)
    const days = parseRetention(args.period)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.setRetention(server, token, days)
    this.log(`session logs are now kept ${result.retention.days} days`)
    return result
  }
}
