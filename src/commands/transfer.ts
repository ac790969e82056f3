import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { api } from '../core/client/index.js'
import { requireLogin } from '../core/credentials/index.js'
import { UserError } from '../core/errors.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'

export default class Transfer extends BaseCommand {
  static override summary = 'Hand your live session to another technician'
  static override description =
    "Your rescue connect for the session ends; the end user is told who comes next, and everything they allowed is revoked. The session waits in the other technician's queue (rescue queue) until they take it with rescue connect SESSION, and the two of them compare new security words. Both your groups and theirs must allow transfer."

  static override examples = ['<%= config.bin %> transfer k5nvmh3wq2x7tb4c9d0e1f2g3h --to carol@acme.example']

  static override args = {
    session: Args.string({
      description: 'the live session (its id, as rescue connect printed it)',
    }),
  }

  static override flags = {
    to: Flags.string({ description: 'the technician who takes it over (their email)', required: true }),
    server: Flags.string({
      description: 'the gateway [default: the one you logged in to]',
      env: 'RESCUE_SERVER',
    }),
  }

  async run(): Promise<{ sessionId: string; to: { name: string; email: string; organisation: string } }> {
    const { args, flags } = await this.parse(Transfer)
    // One clear line rather than the whole usage: which id, and where to find it.
    if (!args.session?.trim()) {
      throw new UserError(
        'usage',
        'missing the session id: rescue transfer SESSION --to EMAIL',
        'it is the "session …" line rescue connect printed once connected, or see rescue queue',
      )
    }
    const { server, token } = requireLogin(flags.server)
    const result = await api.transfer(server, token, args.session.trim().toLowerCase(), flags.to)
    if (!this.jsonEnabled()) {
      this.log(
        `handed over to ${sanitizeForTerminal(result.to.email, 200)}: they take it with rescue connect ${result.sessionId}`,
      )
    }
    return result
  }
}
