import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { parseDuration } from '../cli/duration.js'
import { runHost } from '../cli/run-host.js'
import { parsePermissionList, permissions } from '../core/consent/index.js'
import { loadLogin } from '../core/credentials/index.js'

export default class Host extends BaseCommand {
  static override summary =
    'Ask for help: let the technician who gave you a PIN (or your helpdesk) connect to this computer'
  static override description = `Connects to the gateway and waits for your technician: the one whose PIN you give (--pin), or the first of a helpdesk group's technicians to take your session from its shared queue (--channel).
 When connected, your screen shows who is connecting and three security words; your technician reads you theirs by phone. Answer [y] if they match and [n] if they do not (that ends the session: someone may be between you). Until you answer yes, nothing is asked or allowed; no answer in twice the consent timeout ends the session.

Nothing runs without your consent: each request (a shell, a command) is shown with [a] allow once, [s] allow for this session, [d] deny; no answer in 60 seconds (--consent-timeout) is a denial. [r] closes everything the technician has open and forgets what you allowed; [q] ends the session. Everything is written to your audit log (rescue log).

Without a terminal, events are printed as lines (or JSON lines with --json) and every request is denied unless --auto-approve names it.`

  static override examples = [
    '<%= config.bin %> host --server https://rescue.acme.example --pin 123456',
    '<%= config.bin %> host --pin 123456 --json --auto-approve exec',
    '<%= config.bin %> host --server https://rescue.acme.example --channel helpdesk',
  ]

  static override flags = {
    pin: Flags.string({
      description: 'the 6-digit PIN your technician gave you',
      env: 'RESCUE_PIN',
      exactlyOne: ['pin', 'channel'],
    }),
    channel: Flags.string({
      description: "wait in this group's shared queue for whichever of its technicians takes you",
      env: 'RESCUE_CHANNEL',
      exactlyOne: ['pin', 'channel'],
    }),
    server: Flags.string({
      description: 'the gateway URL [default: http://127.0.0.1:8080]',
      env: 'RESCUE_SERVER',
    }),
    'auto-approve': Flags.string({
      description: `allow these without asking, for unattended use (comma-separated: ${permissions.slice(0, 6).join(', ')})`,
      env: 'RESCUE_AUTO_APPROVE',
    }),
    'consent-timeout': Flags.string({
      description: 'how long a consent prompt waits before it counts as a denial',
      default: '60s',
      env: 'RESCUE_CONSENT_TIMEOUT',
    }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Host)
    const server = flags.server ?? loadLogin()?.server ?? 'http://127.0.0.1:8080'
    const autoApprove = flags['auto-approve'] ? parsePermissionList(flags['auto-approve']) : []
    await runHost({
      server,
      entry: flags.pin !== undefined ? { pin: flags.pin.trim() } : { channel: flags.channel!.trim() },
      autoApprove,
      consentTimeoutMs: parseDuration(flags['consent-timeout']),
      json: this.jsonEnabled(),
    })
  }
}
