import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { openControl } from '../core/control/index.js'
import { checkUrl, requestUrl } from '../core/tools/url.js'

export default class Url extends BaseCommand {
  static override summary = "Open a web address on the end user's computer through the live session"
  static override description =
    "Asks the end user (who must allow it, with the address shown whole) to open URL in their browser, with their system's opener, through the rescue connect running on this machine. Only http and https addresses of at most 2000 characters, without spaces, control characters or a user name in them: anything else is refused here, and nothing is sent. A refusal exits with status 15 (the end user) or 17 (your group's policy)."

  static override examples = ['<%= config.bin %> url https://status.acme.example/help']

  static override args = {
    url: Args.string({ description: 'the http(s) address to open', required: true }),
  }

  static override flags = {
    session: Flags.string({
      description: 'the live session to use, when there are several (its id or a prefix)',
    }),
  }

  async run(): Promise<{ opened: string }> {
    const { args, flags } = await this.parse(Url)
    // Checked before the session is looked for: a bad address sends nothing anywhere.
    const url = checkUrl(args.url)
    const client = await openControl(flags.session)
    try {
      this.log('waiting for the end user to allow it…')
      await requestUrl(client, url)
      if (!this.jsonEnabled()) this.log(`the end user's computer opened ${url}`)
      return { opened: url }
    } finally {
      client.end()
    }
  }
}
