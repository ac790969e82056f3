import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { runSession } from '../cli/run-session.js'
import { requireLogin } from '../core/credentials/index.js'

export default class Connect extends BaseCommand {
  static override summary = 'Connect to the end user who joined with your PIN'
  static override description =
    'Waits for the end user if they have not joined yet (until the PIN expires), then pairs end to end. Read the security words to the end user by phone: if theirs differ, end the session. Ctrl-C ends it for both sides.'

  static override examples = [
    '<%= config.bin %> connect --pin 123456',
    '<%= config.bin %> connect --pin 123456 --json',
  ]

  static override flags = {
    pin: Flags.string({ description: 'the PIN from rescue pin', required: true, env: 'RESCUE_PIN' }),
    server: Flags.string({
      description: 'the gateway [default: the one you logged in to]',
      env: 'RESCUE_SERVER',
    }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Connect)
    const { server, token } = requireLogin(flags.server)
    await runSession({ role: 'technician', server, token, pin: flags.pin.trim(), json: this.jsonEnabled() })
  }
}
