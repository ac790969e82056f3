import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { openControl } from '../core/control/index.js'
import { formatSystemInfo, type SystemInfo } from '../core/sysinfo/index.js'
import { requestSysinfo } from '../core/sysinfo/subsystem.js'

export default class Sysinfo extends BaseCommand {
  static override summary = "Read the end user's system information through the live session"
  static override description =
    'Asks the end user (who must allow it) for their OS, kernel, CPU, memory, disks, network, uptime, top processes and logged-in users, through the rescue connect running on this machine. A refusal exits with status 15.'

  static override examples = [
    '<%= config.bin %> sysinfo',
    '<%= config.bin %> sysinfo --json --session k5nvmh3w',
  ]

  static override flags = {
    session: Flags.string({
      description: 'the live session to use, when there are several (its id or a prefix)',
    }),
  }

  async run(): Promise<SystemInfo> {
    const { flags } = await this.parse(Sysinfo)
    const client = await openControl(flags.session)
    try {
      const info = await requestSysinfo(client)
      if (!this.jsonEnabled()) this.log(formatSystemInfo(info).join('\n'))
      return info
    } finally {
      client.end()
    }
  }
}
