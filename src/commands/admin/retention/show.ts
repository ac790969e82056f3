import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { api } from '../../../core/client/index.js'
import type { RetentionSetting } from '../../../core/compliance/index.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminRetentionShow extends BaseCommand {
  static override summary = 'How long the gateway keeps session logs, chat and recordings'
  static override examples = ['<%= config.bin %> admin retention show']
  static override flags = { server: serverFlag }

  async run(): Promise<{ retention: RetentionSetting }> {
    const { flags } = await this.parse(AdminRetentionShow)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.retention(server, token)
    this.log(
      `session logs are kept ${result.retention.days} days${result.retention.isDefault ? ' (the default)' : ''}`,
    )
    return result
  }
}
