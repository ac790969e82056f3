import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { openControl } from '../core/control/index.js'
import { requestReboot } from '../core/reboot/index.js'

export default class Reboot extends BaseCommand {
  static override summary = "Restart the end user's computer and come back into the same session"
  static override description =
    "Asks the end user (who must allow it) to restart their computer, through the rescue connect running on this machine. Once allowed, their rescue host keeps a sealed resume ticket, leaves the session for the gateway to hold, and restarts; your rescue connect waits for it. After the restart the end user runs rescue host --resume and confirms it is you: the session goes on with a new SSH connection to the same host (its key checked), a shell starts anew, and everything must be allowed again. A refusal exits with status 15 (the end user) or 17 (your group's policy)."

  static override examples = ['<%= config.bin %> reboot', '<%= config.bin %> reboot --session 3f2a']

  static override flags = {
    session: Flags.string({
      description: 'the live session to use, when there are several (its id or a prefix)',
    }),
  }

  async run(): Promise<{ restarting: true; graceMs: number }> {
    const { flags } = await this.parse(Reboot)
    const client = await openControl(flags.session)
    try {
      this.log('waiting for the end user to allow the restart…')
      const { graceMs } = await requestReboot(client)
      const minutes = Math.round(graceMs / 60_000)
      if (!this.jsonEnabled()) {
        this.log(
          `the end user's computer is restarting: your rescue connect waits up to ${minutes} min (or less, if the gateway holds it less) for the end user to run rescue host --resume`,
        )
      }
      return { restarting: true, graceMs }
    } finally {
      client.end()
    }
  }
}
