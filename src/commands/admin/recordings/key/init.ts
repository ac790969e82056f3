import { Flags } from '@oclif/core'
import { serverFlag } from '../../../../cli/admin-flags.js'
import { BaseCommand } from '../../../../cli/base-command.js'
import { requireLogin } from '../../../../core/credentials/index.js'
import { initRecordingKey } from '../../../../core/recordings/index.js'

export default class AdminRecordingsKeyInit extends BaseCommand {
  static override summary =
    "Make the organisation's recording key: the private half to a file, the public half to the gateway"
  static override description =
    "Recordings are sealed to the public half on the technician's side; the gateway stores what it cannot read. Keep the private key file (0600) with whoever may watch recordings: without it no recording opens. Making a new key replaces the old one for new recordings (old ones still need the old key). Masters only."
  static override examples = ['<%= config.bin %> admin recordings key init -o private.key']
  static override flags = {
    output: Flags.string({
      char: 'o',
      description: 'where to write the private key (never over an existing file)',
      required: true,
    }),
    server: serverFlag,
  }

  async run(): Promise<{ file: string; fingerprint: string }> {
    const { flags } = await this.parse(AdminRecordingsKeyInit)
    const { server, token } = requireLogin(flags.server)
    const result = await initRecordingKey({ server, token, out: flags.output })
    this.log(
      `wrote the private recording key to ${result.file}; the gateway now seals recordings to key ${result.fingerprint}`,
    )
    return result
  }
}
