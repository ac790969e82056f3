import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { api } from '../core/client/index.js'
import { requireLogin } from '../core/credentials/index.js'
import type { QueuedSession } from '../core/protocol/control-messages.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'

export default class Queue extends BaseCommand {
  static override summary =
    'List the sessions waiting for you: your PIN sessions and your groups’ shared queues'
  static override description =
    'Each waiting end user with how long they have waited, oldest first. Take one with rescue connect SESSION: if two technicians take the same session, exactly one gets it and the other is told.'

  static override examples = ['<%= config.bin %> queue', '<%= config.bin %> queue --json']

  static override flags = {
    server: Flags.string({
      description: 'the gateway [default: the one you logged in to]',
      env: 'RESCUE_SERVER',
    }),
  }

  async run(): Promise<{ sessions: (QueuedSession & { waitedSeconds: number })[] }> {
    const { flags } = await this.parse(Queue)
    const { server, token } = requireLogin(flags.server)
    const { sessions } = await api.queue(server, token)
    const now = Date.now()
    const listed = sessions.map((session) => ({
      ...session,
      waitedSeconds: Math.max(0, Math.round((now - Date.parse(session.waitingSince)) / 1000)),
    }))
    if (!this.jsonEnabled()) {
      if (listed.length === 0) this.log('nobody is waiting for you')
      for (const session of listed) {
        const queue = session.transferredFrom
          ? `transferred from ${sanitizeForTerminal(session.transferredFrom, 200)}`
          : session.channel
            ? `channel ${sanitizeForTerminal(session.channel, 64)}`
            : 'your PIN'
        this.log(`${session.sessionId}  ${queue}  waiting ${formatWait(session.waitedSeconds)}`)
      }
    }
    return { sessions: listed }
  }
}

function formatWait(seconds: number): string {
  if (seconds < 60) return `${seconds} s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`
}
