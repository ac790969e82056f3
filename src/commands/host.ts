import os from 'node:os'
import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { parseDuration } from '../cli/duration.js'
import { readChannelLink } from '../cli/channel-link-input.js'
import { readPin } from '../cli/read-secret.js'
import { directFlag, directMode } from '../cli/direct-flag.js'
import { resumeGraceFlag } from '../cli/resume-flags.js'
import { runHost, runResumedHost } from '../cli/run-host.js'
import { parsePermissionList, permissions } from '../core/consent/index.js'
import { loadLogin } from '../core/credentials/index.js'
import { checkPinForm } from '../core/pin-form.js'
import { readTrustAnchors } from '../core/trust/index.js'

export default class Host extends BaseCommand {
  static override summary =
    'Ask for help: let the technician who gave you a PIN (or your helpdesk) connect to this computer'
  static override description = `Connects to the gateway and waits for your technician: the one whose PIN you give, or the first of a helpdesk's technicians to take your session from its shared queue (--channel, with the channel link your helpdesk gave you; it names the gateway too).
 Without --channel, rescue host asks for the PIN on the terminal. Scripts give it on stdin (--pin-stdin) or in RESCUE_PIN; --pin works too, but while rescue runs any user of this computer can read it in ps.
 When connected, your screen shows who is connecting and three security words; your technician reads you theirs by phone. Answer [y] if they match and [n] if they do not (that ends the session: someone may be between you). Until you answer yes, nothing is asked or allowed; no answer in twice the consent timeout ends the session.

Nothing runs without your consent: each request (a shell, a command) is shown with [a] allow once, [s] allow for this session, [d] deny; no answer in 60 seconds (--consent-timeout) is a denial. [r] closes everything the technician has open and forgets what you allowed; [q] ends the session. Everything is written to your audit log (rescue log).

A channel link is a secret: rather than --channel LINK (visible to other users of this computer in ps), set RESCUE_CHANNEL_LINK, or pass --channel - and the link on stdin.

Without a terminal, events are printed as lines (or JSON lines with --json) and every request is denied unless --auto-approve names it.

After a restart your technician asked for (rescue reboot), rescue host --resume rejoins the same session: it shows whom you rejoin, you confirm with [y], and everything must be allowed again.

--auto-approve lets a technician in with nobody at the keyboard to compare the security words, so it needs your organisation's key (--trust or --trust-file, printed by rescue admin ca init): only a technician whose device that key certified is let in, and the screen says who, as checked by signature. --trust-gateway instead relies on the gateway's word alone, with a warning.`

  static override examples = [
    '<%= config.bin %> host --server https://rescue.acme.example',
    'echo 123456 | <%= config.bin %> host --pin-stdin --json --auto-approve exec --trust "rescue-ca-ed25519 AAAA... Acme IT"',
    '<%= config.bin %> host --pin-stdin --trust-file /etc/rescue/trusted-ca.pub',
    'RESCUE_CHANNEL_LINK=https://rescue.acme.example/join#… <%= config.bin %> host',
    '<%= config.bin %> host --channel - < channel-link.txt',
    '<%= config.bin %> host --resume',
  ]

  static override flags = {
    pin: Flags.string({
      description:
        'the 6-digit PIN your technician gave you; other users of this computer can see it in ps: rather leave it out to be asked, or use RESCUE_PIN or --pin-stdin',
      env: 'RESCUE_PIN',
      exclusive: ['channel', 'pin-stdin'],
    }),
    'pin-stdin': Flags.boolean({
      description: 'read the PIN from the first line of stdin',
      exclusive: ['pin', 'channel'],
    }),
    channel: Flags.string({
      description:
        'the channel link your helpdesk gave you (https://…/join#…; - reads it from stdin): wait in its shared queue for whichever of its technicians takes you',
      env: 'RESCUE_CHANNEL_LINK',
      exclusive: ['pin', 'pin-stdin'],
    }),
    server: Flags.string({
      description:
        'the gateway URL, or several of one service separated by commas [default: http://127.0.0.1:8080]',
      env: 'RESCUE_SERVER',
    }),
    'auto-approve': Flags.string({
      description: `allow these without asking, for unattended use (comma-separated: ${permissions.slice(0, 7).join(', ')})`,
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
    share: Flags.boolean({
      description:
        'show your own terminal: your shell runs here as usual, and your technician may watch it (view) and, if you let them, type in it (control); Ctrl-] takes control back',
    }),
    resume: Flags.boolean({
      description:
        'after a restart your technician asked for (rescue reboot): rejoin the same session, once you confirm whom you rejoin; nothing you allowed before carries over',
      exclusive: ['pin', 'pin-stdin', 'channel'],
    }),
    'resume-grace': resumeGraceFlag,
    direct: directFlag,
    'send-hostname': Flags.boolean({
      description: "send this computer's name to the gateway, for your helpdesk's session reports",
      env: 'RESCUE_SEND_HOSTNAME',
    }),
    'consent-timeout': Flags.string({
      description: 'how long a consent prompt waits before it counts as a denial',
      default: '60s',
      env: 'RESCUE_CONSENT_TIMEOUT',
    }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Host)
    const common = {
      autoApprove: flags['auto-approve'] ? parsePermissionList(flags['auto-approve']) : [],
      trust: readTrustAnchors({
        keys: flags.trust ? [flags.trust] : [],
        files: flags['trust-file'] ? [flags['trust-file']] : [],
      }),
      trustGateway: flags['trust-gateway'],
      consentTimeoutMs: parseDuration(flags['consent-timeout']),
      resumeGraceMs: parseDuration(flags['resume-grace']),
      direct: directMode(flags.direct),
      json: this.jsonEnabled(),
      ...(flags['send-hostname'] ? { hostName: os.hostname() } : {}),
      share: flags.share,
    }
    // The ticket names the gateway and the session: no PIN, no channel.
    if (flags.resume) return runResumedHost(common)
    // A channel link names its gateway.
    const link = flags.channel !== undefined ? await readChannelLink(flags.channel) : undefined
    // Checked here, before the gateway is asked: a typo is no wrong PIN.
    const entry = link
      ? { channelSecret: link.secret }
      : { pin: checkPinForm(flags.pin ?? (await readPin({ fromStdin: flags['pin-stdin'] }))) }
    const server = link?.server ?? flags.server ?? loadLogin()?.server ?? 'http://127.0.0.1:8080'
    await runHost({ ...common, server, entry })
  }
}
