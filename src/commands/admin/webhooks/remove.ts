import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { api } from '../../../core/client/index.js'
import type { WebhookSettings } from '../../../core/compliance/index.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminWebhooksRemove extends BaseCommand {
  static override summary = 'Stop sending session summaries; queued ones are given up'
  static override examples = ['<%= config.bin %> admin webhooks remove']
  static override flags = { server: serverFlag }

  async run(): Promise<WebhookSettings> {
    const { flags } = await this.parse(AdminWebhooksRemove)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.removeWebhook(server, token)
    this.log('no webhook set: session summaries are no longer sent')
    return result
  }
}
