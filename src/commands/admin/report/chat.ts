import { Args } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { formatChat } from '../../../cli/compliance-format.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { api } from '../../../core/client/index.js'
import type { ChatLine } from '../../../core/compliance/index.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminReportChat extends BaseCommand {
  static override summary = "A session's chat transcript, decrypted from the sealed session log"
  static override description =
    'Oldest first, who said it (end user or technician) and when. Masters read every session; an admin, those of their groups.'

  static override examples = [
    '<%= config.bin %> admin report chat SESSION',
    '<%= config.bin %> admin report chat SESSION --json',
  ]

  static override args = {
    session: Args.string({
      description: 'the session id (from rescue admin report sessions)',
      required: true,
    }),
  }
  static override flags = { server: serverFlag }

  async run(): Promise<{ sessionId: string; lines: ChatLine[] }> {
    const { args, flags } = await this.parse(AdminReportChat)
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.chat(server, token, args.session)
    for (const line of formatChat(result.lines)) this.log(line)
    return result
  }
}
