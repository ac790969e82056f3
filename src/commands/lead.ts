import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { loadLogin, requireLogin } from '../core/credentials/index.js'
import { UserError } from '../core/errors.js'
import { handOverLead } from '../core/technician/invite.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'

export default class Lead extends BaseCommand {
  static override summary = 'Hand the lead of your live session to another technician in it'
  static override description =
    'The lead may invite technicians and hand the lead over. The other technician must be in the session (invited, and let in by the end user), who is told. Nothing anyone was allowed changes: grants stay per technician.'

  static override examples = ['<%= config.bin %> lead k5nvmh3wq2x7tb4c9d0e1f2g3h --to carol@acme.example']

  static override args = {
    session: Args.string({ description: 'your live session (its id, as rescue connect printed it)' }),
  }

  static override flags = {
    to: Flags.string({ description: 'the technician who leads from now on (their email)', required: true }),
    server: Flags.string({
      description: 'the gateway [default: the one you logged in to]',
      env: 'RESCUE_SERVER',
    }),
  }

  async run(): Promise<{ sessionId: string; lead: { name: string; email: string; organisation: string } }> {
    const { args, flags } = await this.parse(Lead)
    if (!args.session?.trim()) {
      throw new UserError('usage', 'missing the session id: rescue lead SESSION --to EMAIL')
    }
    const { server, token } = requireLogin(flags.server)
    const self = loadLogin()?.email
    const result = await handOverLead({
      server,
      token,
      session: args.session,
      to: flags.to,
      ...(self ? { self } : {}),
    })
    if (!this.jsonEnabled()) this.log(`${sanitizeForTerminal(result.lead.email, 200)} now leads the session`)
    return result
  }
}
