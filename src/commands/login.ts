import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { readPassword } from '../cli/read-secret.js'
import type { TechnicianIdentity } from '../core/accounts/index.js'
import { api, parseServerUrl } from '../core/client/index.js'
import { saveLogin, type TokenSource } from '../core/credentials/index.js'

export default class Login extends BaseCommand {
  static override summary = 'Log in to a gateway as a technician'
  static override description =
    'Trades email and password for a token, kept in the OS keychain, or in a file readable only by you when no keychain answers (it says which). Set RESCUE_TOKEN to override both in scripts.'

  static override examples = [
    '<%= config.bin %> login --server http://127.0.0.1:8080 --email alice@acme.example',
    'printf \'%s\' "$PASSWORD" | <%= config.bin %> login --server https://rescue.acme.example --email alice@acme.example --password-stdin',
  ]

  static override flags = {
    server: Flags.string({ description: 'the gateway URL', required: true, env: 'RESCUE_SERVER' }),
    email: Flags.string({ description: 'your email', required: true, env: 'RESCUE_EMAIL' }),
    'password-stdin': Flags.boolean({ description: 'read the password from stdin instead of asking' }),
  }

  async run(): Promise<{
    user: TechnicianIdentity
    server: string
    expiresAt: string
    tokenStore: TokenSource
  }> {
    const { flags } = await this.parse(Login)
    const server = parseServerUrl(flags.server).origin
    const password = await readPassword({
      fromStdin: flags['password-stdin'],
      prompt: `Password for ${flags.email}: `,
    })
    const result = await api.login(server, flags.email, password)
    const tokenStore = saveLogin({ server, email: result.user.email }, result.token)
    this.log(
      `logged in to ${server} as ${result.user.name} <${result.user.email}> (${result.user.organisation})`,
    )
    this.log(
      tokenStore === 'keychain'
        ? 'token saved in the OS keychain'
        : 'no OS keychain answered: token saved in a file only you can read',
    )
    return { user: result.user, server, expiresAt: result.expiresAt, tokenStore }
  }
}
