import { Args, Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { readPassword } from '../../../cli/read-secret.js'
import { api } from '../../../core/client/index.js'
import type { WebhookSettings } from '../../../core/compliance/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminWebhooksSet extends BaseCommand {
  static override summary = "Send a signed JSON summary of each session, when it ends, to your CRM's URL"
  static override description =
    'Each POST carries Rescue-Signature: t=UNIX,v1=HEX (HMAC-SHA256 of "t.body" with the secret) and Rescue-Delivery (an id to drop duplicates); docs/compliance.md shows how a receiver checks them. Failures are retried with exponential backoff for a day; redirects are not followed; only http(s), never the gateway itself. The secret is made by the gateway and shown once, or read from stdin with --secret-stdin; never an argument. Chat is left out unless --include-chat. Master admins only.'

  static override examples = [
    '<%= config.bin %> admin webhooks set https://crm.example/hooks/rescue',
    'printf %s "$SECRET" | <%= config.bin %> admin webhooks set https://crm.example/hooks/rescue --secret-stdin --include-chat',
  ]

  static override args = { url: Args.string({ description: 'the http(s) URL to POST to', required: true }) }
  static override flags = {
    'secret-stdin': Flags.boolean({ description: 'read the HMAC secret (16 characters or more) from stdin' }),
    'include-chat': Flags.boolean({ description: 'put the chat transcript in the summary' }),
    server: serverFlag,
  }

  async run(): Promise<WebhookSettings & { secret?: string }> {
    const { args, flags } = await this.parse(AdminWebhooksSet)
    const secret = flags['secret-stdin']
      ? await readPassword({ fromStdin: true, prompt: 'Webhook secret: ' })
      : undefined
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.setWebhook(server, token, {
      url: args.url,
      includeChat: flags['include-chat'],
      ...(secret !== undefined ? { secret } : {}),
    })
    this.logToStderr(
      `session summaries go to ${sanitizeForTerminal(result.url ?? '-', 200)}${result.includeChat ? ', with chat' : ', without chat'}`,
    )
    if (result.secret) {
      this.logToStderr('the signing secret, shown once:')
      this.log(result.secret)
    }
    return result
  }
}
