import { Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { parseDuration } from '../../../cli/duration.js'
import type { NewScriptToken } from '../../../core/accounts/index.js'
import { api } from '../../../core/client/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminTokensCreate extends BaseCommand {
  static override summary = "Create a token for scripts, with exactly one group's permissions; printed once"
  static override description =
    "Scripts set RESCUE_TOKEN to it instead of logging in. It has no idle timeout (it expires after --ttl) and the group's IP allow-list applies. Revoke it with rescue admin tokens revoke."

  static override examples = [
    '<%= config.bin %> admin tokens create --name ci --group helpdesk --ttl 30d',
    'RESCUE_TOKEN="$(<%= config.bin %> admin tokens create --name nightly --group helpdesk --ttl 7d --json | jq -r .token)" <%= config.bin %> pin',
  ]

  static override flags = {
    name: Flags.string({ description: 'a name for the token (unique)', required: true }),
    group: Flags.string({ description: 'the group whose permissions it has', required: true }),
    ttl: Flags.string({ description: 'how long it lives: 12h, 30d (1h to 366d)', default: '30d' }),
    server: serverFlag,
  }

  async run(): Promise<NewScriptToken> {
    const { flags } = await this.parse(AdminTokensCreate)
    const ttlSeconds = Math.round(parseDuration(flags.ttl) / 1000)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.createToken(server, token, {
      name: flags.name,
      group: flags.group,
      ttlSeconds,
    })
    this.logToStderr(
      `token ${sanitizeForTerminal(result.name)} for group ${sanitizeForTerminal(result.group ?? '-')}, valid until ${sanitizeForTerminal(result.expiresAt)}; shown once:`,
    )
    this.log(sanitizeForTerminal(result.token))
    return result
  }
}
