import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { api } from '../core/client/index.js'
import { findToken, forgetLogin, loadLogin } from '../core/credentials/index.js'
import { UserError } from '../core/errors.js'

export default class Logout extends BaseCommand {
  static override summary = 'Log out: revoke the token on the gateway and forget it here'
  static override examples = [
    '<%= config.bin %> logout',
    '<%= config.bin %> logout --server https://rescue.acme.example',
  ]

  static override flags = {
    server: Flags.string({
      description: 'the gateway to log out of [default: the one you logged in to]',
      env: 'RESCUE_SERVER',
    }),
  }

  async run(): Promise<{ server: string; revoked: boolean }> {
    const { flags } = await this.parse(Logout)
    const server = flags.server ?? loadLogin()?.server
    if (!server) throw new UserError('notLoggedIn', 'you are not logged in')
    const found = findToken(server)
    // Forget locally even when the gateway is unreachable: logging out must always work here.
    const revoked = found
      ? await api.logout(server, found.token).then(
          () => true,
          () => false,
        )
      : false
    forgetLogin(server)
    this.log(
      revoked ? `logged out of ${server}` : `forgot the login for ${server} (the gateway was not told)`,
    )
    return { server, revoked }
  }
}
