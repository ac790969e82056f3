import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { loadLogin, requireLogin } from '../core/credentials/index.js'
import { UserError } from '../core/errors.js'
import { inviteTechnician } from '../core/technician/invite.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'

export default class Invite extends BaseCommand {
  static override summary = 'Invite another technician into your live session'
  static override description =
    'You must lead the session (you connected it, or the lead was handed to you). The other technician pairs with the end user in a session of their own, with their own security words: they take it with rescue connect SESSION (it is in their rescue queue too). The end user compares the words with them and lets them in or not, sees everyone present, and can remove anyone; nothing you were allowed carries over to them. Both your groups and theirs must allow transfer.'

  static override examples = ['<%= config.bin %> invite k5nvmh3wq2x7tb4c9d0e1f2g3h --to carol@acme.example']

  static override args = {
    session: Args.string({ description: 'your live session (its id, as rescue connect printed it)' }),
  }

  static override flags = {
    to: Flags.string({ description: 'the technician you invite (their email)', required: true }),
    server: Flags.string({
      description: 'the gateway [default: the one you logged in to]',
      env: 'RESCUE_SERVER',
    }),
  }

  async run(): Promise<{ sessionId: string; to: { name: string; email: string; organisation: string } }> {
    const { args, flags } = await this.parse(Invite)
    if (!args.session?.trim()) {
      throw new UserError(
        'usage',
        'missing the session id: rescue invite SESSION --to EMAIL',
        'it is the "session …" line rescue connect printed once connected',
      )
    }
    const { server, token } = requireLogin(flags.server)
    const self = loadLogin()?.email
    const result = await inviteTechnician({
      server,
      token,
      session: args.session,
      to: flags.to,
      ...(self ? { self } : {}),
    })
    if (!this.jsonEnabled()) {
      this.log(
        `invited ${sanitizeForTerminal(result.to.email, 200)}: they join with rescue connect ${result.sessionId}, then compare security words with the end user`,
      )
    }
    return result
  }
}
