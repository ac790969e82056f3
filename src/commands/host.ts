import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { parseDuration } from '../cli/duration.js'
import { runHost } from '../cli/run-host.js'
import { parsePermissionList, permissions } from '../core/consent/index.js'
import { loadLogin } from '../core/credentials/index.js'
import { readTrustAnchors } from '../core/trust/index.js'

export default class Host extends BaseCommand {
  static override summary =
    'Ask for help: let the technician who gave you a PIN (or your helpdesk) connect to this computer'
  static override description = `Connects to the gateway and waits for your technician: the one whose PIN you give (--pin), or the first of a helpdesk group's technicians to take your session from its shared queue (--channel).
 When connected, both screens show the same security words: compare them by phone before going on.

Nothing runs without your consent: each request (a shell, a command) is shown with [a] allow once, [s] allow for this session, [d] deny; no answer in 60 seconds (--consent-timeout) is a denial. [r] closes everything the technician has open and forgets what you allowed; [q] ends the session. Everything is written to your audit log (rescue log).

Without a terminal, events are printed as lines (or JSON lines with --json) and every request is denied unless --auto-approve names it.

--auto-approve lets a technician in with nobody at the keyboard to compare the security words, so it needs your organisation's key (--trust or --trust-file, printed by rescue admin ca init): only a technician whose device that key certified is let in, and the screen says who, as checked by signature. --trust-gateway instead relies on the gateway's word alone, with a warning.`

  static override examples = [
    '<%= config.bin %> host --server https://rescue.acme.example --pin 123456',
    '<%= config.bin %> host --pin 123456 --json --auto-approve exec --trust "rescue-ca-ed25519 AAAA... Acme IT"',
    '<%= config.bin %> host --pin 123456 --trust-file /etc/rescue/trusted-ca.pub',
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
    trust: Flags.string({
      description:
        "your organisation's key (rescue-ca-ed25519 ...): only technicians it certified may connect",
      env: 'RESCUE_TRUST',
    }),
    'trust-file': Flags.file({
      description:
        'a file of organisation keys, one a line: only technicians one of them certified may connect',
      exists: true,
    }),
    'trust-gateway': Flags.boolean({
      description:
        'let --auto-approve rely on the gateway alone for who the technician is (warned and logged)',
      exclusive: ['trust', 'trust-file'],
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
    const trust = readTrustAnchors({
      keys: flags.trust ? [flags.trust] : [],
      files: flags['trust-file'] ? [flags['trust-file']] : [],
    })
    await runHost({
      server,
      entry: flags.pin !== undefined ? { pin: flags.pin.trim() } : { channel: flags.channel!.trim() },
      autoApprove,
      trust,
      trustGateway: flags['trust-gateway'],
      consentTimeoutMs: parseDuration(flags['consent-timeout']),
      json: this.jsonEnabled(),
    })
  }
}
