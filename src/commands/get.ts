import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { runTransfer, type TransferReport } from '../cli/run-transfer.js'

export default class Get extends BaseCommand {
  static override summary = "Copy a file or folder from the end user's computer through the live session"
  static override description =
    "Copies REMOTE to LOCAL through the rescue connect running on this machine, once the end user allows it. A LOCAL that is a folder gets the file under its own name; a relative REMOTE starts in the end user's home folder. The copy grows under a temporary name here and is put in place only when its SHA-256 matches on both ends; after a break, --resume continues from the part already here, once its hash is checked. Exits 15 when the end user says no."

  static override examples = [
    '<%= config.bin %> get /var/log/syslog ./syslog',
    '<%= config.bin %> get -r /var/log/apt ./logs/',
    '<%= config.bin %> get --resume Videos/screen.mkv .',
    '<%= config.bin %> get --json /etc/os-release . --session k5nvmh3w',
  ]

  static override args = {
    remote: Args.string({
      description: "the file (or, with -r, folder) on the end user's computer",
      required: true,
    }),
    local: Args.string({ description: 'where it goes on this machine', required: true }),
  }

  static override flags = {
    recursive: Flags.boolean({
      char: 'r',
      description: 'copy a folder and everything in it, after one prompt',
    }),
    resume: Flags.boolean({ description: 'continue a transfer that broke off, from the part already here' }),
    session: Flags.string({
      description: 'the live session to use, when there are several (its id or a prefix)',
    }),
  }

  async run(): Promise<TransferReport> {
    const { args, flags } = await this.parse(Get)
    return runTransfer({
      direction: 'get',
      from: args.remote,
      to: args.local,
      recursive: flags.recursive,
      resume: flags.resume,
      json: this.jsonEnabled(),
      ...(flags.session !== undefined ? { session: flags.session } : {}),
    })
  }
}
