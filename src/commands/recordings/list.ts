import { Flags } from '@oclif/core'
import { serverFlag } from '../../cli/admin-flags.js'
import { BaseCommand } from '../../cli/base-command.js'
import { api, type RecordingSummary } from '../../core/client/index.js'
import { requireLogin } from '../../core/credentials/index.js'

export default class RecordingsList extends BaseCommand {
  static override summary = 'List the recordings the gateway keeps (sealed: it cannot read them)'
  static override description =
    'Masters and admins see every recording of the organisation; a technician, their own. Each is one shell or command; open one with rescue recordings get ID --key FILE.'
  static override examples = [
    '<%= config.bin %> recordings list',
    '<%= config.bin %> recordings list --session k5nvmh3wq2x7tb4c9d0e1f2g3h --json',
  ]
  static override flags = {
    session: Flags.string({ description: 'only the recordings of this session' }),
    server: serverFlag,
  }

  async run(): Promise<{ recordings: RecordingSummary[] }> {
    const { flags } = await this.parse(RecordingsList)
    const { server, token } = requireLogin(flags.server)
    const result = await api.recordings.list(server, token, flags.session?.trim().toLowerCase())
    if (result.recordings.length === 0) this.log('No recordings.')
    for (const recording of result.recordings) {
      const state = recording.complete ? 'complete' : 'in progress'
      this.log(
        `${recording.id}  ${recording.startedAt}  session ${recording.sessionId}  ${recording.kind} (channel ${recording.channel})  ${recording.technician}  ${recording.size} bytes sealed, ${state}`,
      )
    }
    return result
  }
}
