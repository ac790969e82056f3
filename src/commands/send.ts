import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { runTransfer, type TransferReport } from '../cli/run-transfer.js'

export default class Send extends BaseCommand {
  static override summary = "Put a file or folder on the end user's computer through the live session"
  static override description =
    "Sends LOCAL to REMOTE through the rescue connect running on this machine, once the end user allows it. A REMOTE ending in / is a folder: the file keeps its name there; a relative REMOTE starts in the end user's home folder. The file grows under a temporary name on their side and is put in place only when its SHA-256 matches on both ends; after a break, --resume continues from the part already there, once its hash is checked. Exits 15 when the end user says no."

  static override examples = [
    '<%= config.bin %> send ./fix.sh /tmp/fix.sh',
    '<%= config.bin %> send ./fix.sh /tmp/',
    '<%= config.bin %> send -r ./scripts /tmp/',
    '<%= config.bin %> send --resume ./big.iso Downloads/',
    '<%= config.bin %> send --json ./fix.sh /tmp/ --session k5nvmh3w',
  ]

  static override args = {
    local: Args.string({ description: 'the file (or, with -r, folder) on this machine', required: true }),
    remote: Args.string({ description: "where it goes on the end user's computer", required: true }),
  }

  static override flags = {
    recursive: Flags.boolean({
      char: 'r',
      description: 'send a folder and everything in it, after one prompt',
    }),
    resume: Flags.boolean({ description: 'continue a transfer that broke off, from the part already there' }),
    session: Flags.string({
      description: 'the live session to use, when there are several (its id or a prefix)',
    }),
  }

  async run(): Promise<TransferReport> {
    const { args, flags } = await this.parse(Send)
    return runTransfer({
      direction: 'send',
      from: args.local,
      to: args.remote,
      recursive: flags.recursive,
      resume: flags.resume,
      json: this.jsonEnabled(),
      ...(flags.session !== undefined ? { session: flags.session } : {}),
    })
  }
}
