import { Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { formatDeliveries } from '../../../cli/compliance-format.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { api } from '../../../core/client/index.js'
import type { DeliveryStatus, WebhookSettings } from '../../../core/compliance/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminWebhooksStatus extends BaseCommand {
  static override summary =
    'The webhook URL and its recent deliveries: delivered, pending (with the next attempt) or failed'
  static override examples = [
    '<%= config.bin %> admin webhooks status',
    '<%= config.bin %> admin webhooks status --json',
  ]
  static override flags = {
    limit: Flags.integer({
      description: 'how many of the newest deliveries',
      default: 50,
      min: 1,
      max: 1000,
    }),
    server: serverFlag,
  }

  async run(): Promise<WebhookSettings & { deliveries: DeliveryStatus[] }> {
    const { flags } = await this.parse(AdminWebhooksStatus)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.webhooks(server, token, flags.limit)
    this.log(
      result.url
        ? `webhook: ${sanitizeForTerminal(result.url, 200)}${result.includeChat ? ' (with chat)' : ' (without chat)'}`
        : 'no webhook set (rescue admin webhooks set URL)',
    )
    for (const line of formatDeliveries(result.deliveries)) this.log(line)
    return result
  }
}
