import { Args, Flags } from '@oclif/core'
import { serverFlag } from '../../cli/admin-flags.js'
import { BaseCommand } from '../../cli/base-command.js'
import { requireLogin } from '../../core/credentials/index.js'
import { getRecording } from '../../core/recordings/index.js'

export default class RecordingsGet extends BaseCommand {
  static override summary = "Download a recording and open it with the organisation's private recording key"
  static override description =
    'Writes the asciicast v2 file (play it with rescue recordings play or asciinema, check it with rescue recordings verify). The file is written whole or not at all.'
  static override examples = [
    '<%= config.bin %> recordings get k5nvmh3wq2x7tb4c9d0e1f2g3 --key private.key -o session.cast',
  ]
  static override args = {
    id: Args.string({ description: 'the recording, from rescue recordings list', required: true }),
  }
  static override flags = {
    key: Flags.file({
      description: 'the private key file from rescue admin recordings key init',
      required: true,
    }),
    output: Flags.string({ char: 'o', description: 'where to write the .cast file', required: true }),
    server: serverFlag,
  }

  async run(): Promise<Awaited<ReturnType<typeof getRecording>>> {
    const { args, flags } = await this.parse(RecordingsGet)
    const { server, token } = requireLogin(flags.server)
    const result = await getRecording({ server, token, id: args.id, keyFile: flags.key, out: flags.output })
    this.log(`wrote ${result.file} (${result.bytes} bytes${result.complete ? '' : ', still in progress'})`)
    return result
  }
}
