import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { openControl } from '../../core/control/index.js'
import { checkClipboardText, requestClipboard } from '../../core/tools/clipboard.js'

export default class ClipboardPush extends BaseCommand {
  static override summary = "Put text on the end user's clipboard through the live session"
  static override description =
    'Asks the end user (who must allow it, with the text shown whole) to put TEXT, or what stdin holds, on their clipboard: the system clipboard, or OSC 52 on their terminal where there is none. Text only, at most 2000 characters: anything else is refused here, and nothing is sent.'

  static override examples = [
    '<%= config.bin %> clipboard push "ping -c 3 192.168.1.1"',
    'cat fix.txt | <%= config.bin %> clipboard push',
  ]

  static override args = {
    text: Args.string({ description: 'the text (read from stdin when left out)' }),
  }

  static override flags = {
    session: Flags.string({
      description: 'the live session to use, when there are several (its id or a prefix)',
    }),
  }

  async run(): Promise<{ pushed: number }> {
    const { args, flags } = await this.parse(ClipboardPush)
    const text = checkClipboardText(args.text ?? (await readStdin()))
    const client = await openControl(flags.session)
    try {
      this.log('waiting for the end user to allow it…')
      await requestClipboard(client, { op: 'push', text })
      this.log(`on the end user's clipboard: ${[...text].length} characters`)
      return { pushed: [...text].length }
    } finally {
      client.end()
    }
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer)
    size += (chunk as Buffer).length
    // Far past the limit: stop reading, the check says why.
    if (size > 64 * 1024) break
  }
  return Buffer.concat(chunks).toString('utf8')
}
