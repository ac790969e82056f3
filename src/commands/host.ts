import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { runSession } from '../cli/run-session.js'
import { loadLogin } from '../core/credentials/index.js'

export default class Host extends BaseCommand {
  static override summary = 'Ask for help: let the technician who gave you a PIN connect to this computer'
  static override description =
    'Connects to the gateway and waits for your technician. When connected, both screens show the same security words: compare them by phone before going on. Nothing is allowed without your consent; Ctrl-C ends the session at any time.'

  static override examples = [
    '<%= config.bin %> host --server https://rescue.acme.example --pin 123456',
    '<%= config.bin %> host --pin 123456 --json',
  ]

  static override flags = {
    pin: Flags.string({
      description: 'the 6-digit PIN your technician gave you',
      required: true,
      env: 'RESCUE_PIN',
    }),
    server: Flags.string({
      description: 'the gateway URL [default: http://127.0.0.1:8080]',
      env: 'RESCUE_SERVER',
    }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Host)
    const server = flags.server ?? loadLogin()?.server ?? 'http://127.0.0.1:8080'
    await runSession({ role: 'host', server, pin: flags.pin.trim(), json: this.jsonEnabled() })
  }
}
