import { Flags } from '@oclif/core'
import { databaseFlag } from '../cli/admin-flags.js'
import { BaseCommand } from '../cli/base-command.js'
import { parseDuration } from '../cli/duration.js'
import { signalCode, waitForSignal } from '../cli/signals.js'
import { ExitCode } from '../core/errors.js'
import { serve } from '../core/gateway/index.js'
import { defaultDataDir } from '../core/paths.js'

export default class Server extends BaseCommand {
  static override summary = 'Run the gateway that pairs end users with technicians and relays their sessions'
  static override description =
    'The gateway keeps accounts, PINs and the session log in --data, and relays the sealed stream between the two sides without being able to read it. It stops on Ctrl-C or SIGTERM, ending every session with a message.'

  static override examples = [
    '<%= config.bin %> server --data ./data',
    '<%= config.bin %> server --port 0 --json',
    '<%= config.bin %> server --data ./data --lockout 30m --password-max-age 60d',
    'RESCUE_DATABASE_URL=postgres://rescue@db.example/rescue <%= config.bin %> server --data ./keys',
    '<%= config.bin %> server --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem',
  ]

  static override flags = {
    host: Flags.string({ description: 'address to listen on', default: '127.0.0.1', env: 'RESCUE_HOST' }),
    port: Flags.integer({
      description: 'port to listen on; 0 picks a free one',
      default: 8080,
      min: 0,
      max: 65535,
      env: 'RESCUE_PORT',
    }),
    data: Flags.directory({
      description:
        'data directory for the embedded database and the secret keys [default: XDG data home]/rescue',
      env: 'RESCUE_DATA',
    }),
    database: databaseFlag,
    'tls-cert': Flags.file({ description: 'TLS certificate (PEM)', exists: true, dependsOn: ['tls-key'] }),
    'tls-key': Flags.file({ description: 'TLS private key (PEM)', exists: true, dependsOn: ['tls-cert'] }),
    insecure: Flags.boolean({
      description: 'allow plain HTTP on a non-loopback address (behind a TLS proxy)',
    }),
    lockout: Flags.string({
      description:
        'how long an account stays locked after 5 failed logins (or until rescue admin users unlock)',
      default: '15m',
      env: 'RESCUE_LOCKOUT',
    }),
    'password-max-age': Flags.string({
      description: 'after this, login makes a technician choose a new password',
      default: '90d',
      env: 'RESCUE_PASSWORD_MAX_AGE',
    }),
    'reboot-grace': Flags.string({
      description:
        "the longest an end user's computer restarting for its technician (rescue reboot) is waited for",
      default: '15m',
      env: 'RESCUE_REBOOT_GRACE',
    }),
    'resume-grace': Flags.string({
      description:
        'the longest a paired side whose connection dropped is held for it to come back, whatever the sides ask',
      default: '60s',
      env: 'RESCUE_RESUME_GRACE_MAX',
    }),
    'cluster-url': Flags.string({
      description:
        'where the other gateways on the same --database reach this one [default: the address it listens on]',
      env: 'RESCUE_CLUSTER_URL',
    }),
    direct: Flags.boolean({
      description:
        "let paired sides move a session's bytes onto a direct TCP link between them when they can reach each other; --no-direct keeps every byte on this gateway's relay",
      default: true,
      allowNo: true,
      env: 'RESCUE_DIRECT_LINKS',
    }),
    'heartbeat-ms': Flags.integer({
      description: 'ping interval for peers',
      default: 5000,
      min: 50,
      hidden: true,
    }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Server)
    const json = this.jsonEnabled()
    const gateway = await serve({
      dataDir: flags.data ?? defaultDataDir(),
      databaseUrl: flags.database,
      host: flags.host,
      port: flags.port,
      insecure: flags.insecure,
      heartbeatMs: flags['heartbeat-ms'],
      ...(flags['cluster-url'] ? { clusterUrl: flags['cluster-url'] } : {}),
      maxResumeGraceMs: parseDuration(flags['resume-grace']),
      maxRebootGraceMs: parseDuration(flags['reboot-grace']),
      direct: flags.direct,
      login: {
        lockout: { maxFailures: 5, lockoutMs: parseDuration(flags.lockout) },
        passwordMaxAgeMs: parseDuration(flags['password-max-age']),
      },
      ...(flags['tls-cert'] && flags['tls-key']
        ? { tls: { certFile: flags['tls-cert'], keyFile: flags['tls-key'] } }
        : {}),
      onLog: json ? undefined : (line) => this.log(line),
    })
    if (json) this.logJson({ url: gateway.url })
    else this.log(`rescue gateway listening on ${gateway.url}`)
    const signal = await waitForSignal()
    const ended = await gateway.close()
    const sessions = `${ended} session${ended === 1 ? '' : 's'} ended`
    if (json) this.logJson({ event: 'stopped', signal, sessionsEnded: ended })
    else this.log(`stopped (${signal === 'SIGINT' ? 'Ctrl-C' : signal}), ${sessions}`)
    // Stopped on purpose: 130 for Ctrl-C, 143 for SIGTERM, as for every command.
    process.exitCode = ExitCode[signalCode(signal)]
  }
}
