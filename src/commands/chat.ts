import readline from 'node:readline'
import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { onSignal, signalCode } from '../cli/signals.js'
import { ExitCode } from '../core/errors.js'
import { openChat, type ChatMessage } from '../core/chat/index.js'
import { openControl } from '../core/control/index.js'
import { toJsonLine } from '../core/text/json-line.js'

export default class Chat extends BaseCommand {
  static override summary = 'Chat with the end user through the live session'
  static override description =
    'Sends each line you type to the end user and shows theirs, through the rescue connect running on this machine; Ctrl-D or Ctrl-C leaves. With --message, sends one line and exits. Chat needs no consent; both sides log it.'

  static override examples = [
    '<%= config.bin %> chat',
    `<%= config.bin %> chat --message 'rebooting now, back in 2 minutes'`,
  ]

  static override flags = {
    message: Flags.string({ char: 'm', description: 'send this one line, then exit' }),
    session: Flags.string({
      description: 'the live session to use, when there are several (its id or a prefix)',
    }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Chat)
    const json = this.jsonEnabled()
    const show = (message: ChatMessage) =>
      process.stdout.write(
        json
          ? `${toJsonLine({ event: 'chat', ...message })}\n`
          : `[${message.time.slice(11, 19)}] ${message.from === 'host' ? 'end user' : 'you'}: ${message.text}\n`,
      )
    const client = await openControl(flags.session)
    let closed!: () => void
    const done = new Promise<void>((resolve) => (closed = resolve))
    const chat = await openChat(client, { self: 'technician', onMessage: show, onClose: () => closed() })
    try {
      if (flags.message !== undefined) {
        show(chat.send(flags.message))
        return
      }
      // Ctrl-D leaves (0); Ctrl-C and SIGTERM leave too, with 130 and 143 as shells report them.
      // Listened for before the invitation is shown: until then, Ctrl-C would kill outright.
      const stop = onSignal((signal) => {
        process.exitCode = ExitCode[signalCode(signal)]
        closed()
      })
      if (!json) process.stderr.write('chatting with the end user: type a line and Enter; Ctrl-D leaves\n')
      const lines = readline.createInterface({ input: process.stdin, terminal: false })
      lines.on('line', (line) => {
        if (line.trim() && !chat.isClosed) show(chat.send(line))
      })
      lines.on('close', () => closed())
      await done
      stop()
      lines.close()
    } finally {
      chat.close()
      client.end()
    }
  }
}
