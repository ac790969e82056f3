import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { describeEvent } from '../cli/session-lines.js'
import { runDemo, type DemoResult } from '../core/demo/index.js'
import { roleName } from '../core/gateway/control-messages.js'

export default class Demo extends BaseCommand {
  static override summary = 'See the whole flow on this machine: gateway, PIN, end user and technician'
  static override description =
    'Starts a gateway on a free loopback port with a throwaway database, creates an admin, makes a PIN, pairs an end user with the technician end to end, and ends the session, saying what happens at each step. Leaves nothing behind.'

  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --json']

  static override flags = {
    hold: Flags.integer({ description: 'milliseconds the paired session stays up', default: 1000, min: 0 }),
  }

  async run(): Promise<DemoResult> {
    const { flags } = await this.parse(Demo)
    return runDemo({
      holdMs: flags.hold,
      narrate: (line) => this.log(line),
      onEvent: (role, event) => {
        if (event.event !== 'waiting')
          for (const line of describeEvent(event)) this.log(`   [${roleName[role]}] ${line}`)
      },
    })
  }
}
