import { Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { api } from '../../../core/client/index.js'
import { writePrivateFileAtomic } from '../../../core/compliance/index.js'
import { requireLogin } from '../../../core/credentials/index.js'
import { sanitizeForTerminal } from '../../../core/text/sanitize.js'

export default class AdminGdprExport extends BaseCommand {
  static override summary =
    'Export everything the gateway holds about a technician or a session, decrypted, to a JSON file'
  static override description =
    'For a technician: the account (never its password hash, 2FA secret or tokens), token and PIN records, every session they ran with its events, chat and file records, webhook deliveries, and the admin audit entries about them. For a session: the same for that session. The file is written 0600, atomically (all of it or nothing). Master admins only; the export is itself written to the audit trail.'

  static override examples = [
    '<%= config.bin %> admin gdpr export --technician bob@acme.example -o bob.json',
    '<%= config.bin %> admin gdpr export --session SESSION -o session.json',
  ]

  static override flags = {
    technician: Flags.string({
      description: 'the technician (email)',
      exactlyOne: ['technician', 'session'],
    }),
    session: Flags.string({ description: 'the session id', exactlyOne: ['technician', 'session'] }),
    output: Flags.string({ char: 'o', description: 'the JSON file to write (0600)', required: true }),
    server: serverFlag,
  }

  async run(): Promise<{ file: string; sessions: number }> {
    const { flags } = await this.parse(AdminGdprExport)
    const { server, token } = requireLogin(flags.server)
    const subject =
      flags.technician !== undefined ? { technician: flags.technician } : { session: flags.session! }
    const result = await api.admin.gdprExport(server, token, subject)
    const file = writePrivateFileAtomic(flags.output, `${JSON.stringify(result, null, 2)}\n`)
    this.log(
      `wrote ${sanitizeForTerminal(file, 200)}: ${result.sessions.length} session(s)${result.account ? ', the account' : ''}, ${result.adminAudit.length} audit entries`,
    )
    return { file, sessions: result.sessions.length }
  }
}
