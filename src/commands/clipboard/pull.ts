import { Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { openControl } from '../../core/control/index.js'
import { requestClipboard } from '../../core/tools/clipboard.js'
import { sanitizeForTerminal } from '../../core/text/sanitize.js'

export default class ClipboardPull extends BaseCommand {
  static override summary = "Read the text on the end user's clipboard through the live session"
  static override description =
    "Asks the end user (who must allow it) for the text on their system clipboard, and prints it. Text only, at most 2000 characters; a terminal's own clipboard (OSC 52) is not read."

  static override examples = ['<%= config.bin %> clipboard pull', '<%= config.bin %> clipboard pull --json']

  static override flags = {
    session: Flags.string({
      description: 'the live session to use, when there are several (its id or a prefix)',
    }),
  }

  async run(): Promise<{ text: string }> {
    const { flags } = await this.parse(ClipboardPull)
    const client = await openControl(flags.session)
    try {
      const text = await requestClipboard(client, { op: 'pull' })
      // Text from the other side is hostile: escaped for a terminal, kept as it is in JSON.
      if (!this.jsonEnabled()) this.log(process.stdout.isTTY ? sanitizeForTerminal(text, 4000) : text)
      return { text }
    } finally {
      client.end()
    }
  }
}
