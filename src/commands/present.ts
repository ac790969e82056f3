import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { runPresent } from '../cli/present.js'
import { openControl } from '../core/control/index.js'

export default class Present extends BaseCommand {
  static override summary = 'Show your own terminal to the end user, read only, through the live session'
  static override description =
    "Asks the end user (who must allow it) to watch this terminal on their rescue host screen, through the rescue connect running on this machine. Once they allow it, your own shell starts here as usual, with a status line at the bottom, and the end user sees everything it shows; nothing they type reaches it. The shell takes the smaller of the two windows. Ctrl-] then q stops presenting (and closes this shell), as does leaving the shell; the end user can stop watching at any time. A refusal exits with status 15 (the end user) or 17 (your group's policy)."

  static override examples = ['<%= config.bin %> present', '<%= config.bin %> present --session 3fq7']

  static override flags = {
    session: Flags.string({
      description: 'the live session to use, when there are several (its id or a prefix)',
    }),
  }

  async run(): Promise<{ ended: string }> {
    const { flags } = await this.parse(Present)
    const client = await openControl(flags.session)
    try {
      const ended = await runPresent(client, (line) => process.stderr.write(`${line}\n`))
      if (!this.jsonEnabled() && ended === 'stopped-watching') this.log('the end user stopped watching')
      return { ended }
    } finally {
      client.end()
    }
  }
}
