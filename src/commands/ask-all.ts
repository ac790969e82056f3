import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { openControl } from '../core/control/index.js'
import { askForEverything } from '../core/technician/single-prompt.js'

export default class AskAll extends BaseCommand {
  static override summary = 'Ask the end user once for everything your group allows, for this session'
  static override description =
    'The single prompt: the end user sees one question listing, in words, every permission your groups allow (open a shell, run commands, send files...) and answers "for this session" or "deny"; if they allow it, nothing more is asked for the rest of this session. Works only when one of your groups allows single-prompt: exits 17 when it does not, 15 when the end user says no or does not answer. Acts on the rescue connect running on this machine.'

  static override examples = [
    '<%= config.bin %> ask-all',
    '<%= config.bin %> ask-all --session k5nvmh3w --json',
  ]

  static override flags = {
    session: Flags.string({
      description: 'the live session to use, when there are several (its id or a prefix)',
    }),
  }

  async run(): Promise<{ allowed: true }> {
    const { flags } = await this.parse(AskAll)
    const client = await openControl(flags.session)
    try {
      if (!this.jsonEnabled()) process.stderr.write('waiting for the end user to answer…\n')
      await askForEverything(client)
      if (!this.jsonEnabled()) this.log('the end user allowed everything your group allows, for this session')
      return { allowed: true }
    } finally {
      client.end()
    }
  }
}
