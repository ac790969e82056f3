import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { stdinPrompts, terminalPrompts } from '../cli/login-prompts.js'
import { StdinLines } from '../cli/read-secret.js'
import type { TechnicianIdentity } from '../core/accounts/identity.js'
import { normaliseServers } from '../core/client/index.js'
import { loginWithPrompts } from '../core/client/login-flow.js'
import { saveLogin, type TokenSource } from '../core/credentials/index.js'
import { UserError } from '../core/errors.js'
import { ensureDeviceKey, loadCertificate, signCommandFor } from '../core/trust/index.js'

export default class Login extends BaseCommand {
  static override summary = 'Log in to a gateway as a technician'
  static override description = `Trades email and password for a token, kept in the OS keychain, or in a file readable only by you when no keychain answers (it says which). Set RESCUE_TOKEN to override both in scripts.

When your group requires a second factor, login asks for a code from your authenticator app; the first time, it prints an otpauth:// URI and a QR code to enrol it. After an admin made or reset your account, and when your password is too old, it asks for a new password (twice, hidden).

With --password-stdin every answer comes from stdin, one line each, in this order and only when needed: the password, the TOTP code, the new password. Without a terminal and without --password-stdin, login fails at once.`

  static override examples = [
    '<%= config.bin %> login --server http://127.0.0.1:8080 --email alice@acme.example',
    'printf \'%s\' "$PASSWORD" | <%= config.bin %> login --server https://rescue.acme.example --email alice@acme.example --password-stdin',
    'printf \'%s\\n%s\\n\' "$PASSWORD" "$(oathtool --totp -b "$TOTP_SECRET")" | <%= config.bin %> login --server https://rescue.acme.example --email ci@acme.example --password-stdin',
  ]

  static override flags = {
    server: Flags.string({
      description: 'the gateway URL; several gateways of one service separated by commas, tried in turn',
      required: true,
      env: 'RESCUE_SERVER',
    }),
    email: Flags.string({ description: 'your email', required: true, env: 'RESCUE_EMAIL' }),
    'password-stdin': Flags.boolean({
      description:
        'read the password, then the TOTP code and a new password when asked, one line each from stdin',
    }),
  }

  async run(): Promise<{
    user: TechnicianIdentity
    server: string
    expiresAt: string
    tokenStore: TokenSource
    device: { publicKey: string; fingerprint: string; certified: boolean; signCommand: string }
  }> {
    const { flags } = await this.parse(Login)
    const server = normaliseServers(flags.server)
    if (!flags['password-stdin'] && !process.stdin.isTTY) {
      throw new UserError(
        'usage',
        'there is no terminal to ask for the password',
        'pipe it in with --password-stdin',
      )
    }
    const lines = flags['password-stdin'] ? new StdinLines() : undefined
    const result = await loginWithPrompts(
      server,
      flags.email,
      lines ? stdinPrompts(flags.email, lines) : terminalPrompts(flags.email),
    ).finally(() => lines?.close())
    const tokenStore = saveLogin({ server, email: result.user.email }, result.token)
    this.log(
      `logged in to ${server} as ${result.user.name} <${result.user.email}> (${result.user.organisation})`,
    )
    this.log(
      tokenStore === 'keychain'
        ? 'token saved in the OS keychain'
        : 'no OS keychain answered: token saved in a file only you can read',
    )
    // The device key is made here, on this machine, and never leaves it; an admin certifies it.
    const device = ensureDeviceKey(result.user.email)
    const installed = loadCertificate()
    const certified =
      installed !== undefined && !installed.expired && installed.deviceFingerprint === device.fingerprint
    const signCommand = signCommandFor(device, result.user.email)
    if (device.created || !certified) {
      this.log(`device key ${device.fingerprint}${device.created ? ' made' : ''} (rescue device shows it)`)
      this.log(`for hosts that trust your organisation's key, ask an admin to run:\n  ${signCommand}`)
    }
    return {
      user: result.user,
      server,
      expiresAt: result.expiresAt,
      tokenStore,
      device: { publicKey: device.line, fingerprint: device.fingerprint, certified, signCommand },
    }
  }
}
