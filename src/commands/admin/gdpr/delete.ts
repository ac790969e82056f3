import { Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { api } from '../../../core/client/index.js'
import type { GdprErasure } from '../../../core/compliance/index.js'
import { UserError } from '../../../core/errors.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminGdprDelete extends BaseCommand {
  static override summary =
    'Erase everything the gateway holds about a technician or a session, and say what was erased'
  static override description =
    "For a technician: their account, tokens, PINs, every session they ran (events, chat, file records, recordings, webhook deliveries); in older audit entries their email becomes a pseudonym (erased: and 16 hex digits of its SHA-256). For a session: that session. The audit trail keeps only that an erasure happened and how much it erased. It cannot be undone: --yes says you mean it. Master admins only; a master admin's own account cannot be erased."

  static override examples = [
    '<%= config.bin %> admin gdpr delete --technician bob@acme.example --yes',
    '<%= config.bin %> admin gdpr delete --session SESSION --yes',
  ]

  static override flags = {
    technician: Flags.string({
      description: 'the technician (email)',
      exactlyOne: ['technician', 'session'],
    }),
    session: Flags.string({ description: 'the session id', exactlyOne: ['technician', 'session'] }),
    yes: Flags.boolean({ description: 'erase without asking: it cannot be undone' }),
    server: serverFlag,
  }

  async run(): Promise<GdprErasure> {
    const { flags } = await this.parse(AdminGdprDelete)
    if (!flags.yes) throw new UserError('usage', 'an erasure cannot be undone', 'add --yes to erase')
    const { server, token } = requireLogin(flags.server)
    const subject =
      flags.technician !== undefined ? { technician: flags.technician } : { session: flags.session! }
    const result = await api.admin.gdprDelete(server, token, subject)
    const counts = Object.entries(result.erased)
      .map(([kind, count]) =>
        typeof count === 'number'
          ? `${kind}: ${count}`
          : Object.entries(count)
              .map(([inner, n]) => `${inner}: ${n}`)
              .join(', '),
      )
      .filter(Boolean)
      .join(', ')
    this.log(
      `erased ${counts}${result.pseudonym ? `; the audit trail now names them ${result.pseudonym}` : ''}`,
    )
    return result
  }
}
