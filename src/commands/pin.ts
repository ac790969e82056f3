import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { parseDuration } from '../cli/duration.js'
import { api } from '../core/client/index.js'
import { requireLogin } from '../core/credentials/index.js'

export default class Pin extends BaseCommand {
  static override summary = 'Make a PIN that brings an end user into your private queue'
  static override description =
    'The PIN has 6 digits, works once, and expires (20 minutes unless --ttl says otherwise). Read it to the end user, who runs rescue host --pin PIN; then run rescue connect --pin PIN.'

  static override examples = ['<%= config.bin %> pin', '<%= config.bin %> pin --ttl 1h --json']

  static override flags = {
    ttl: Flags.string({
      description: 'how long the PIN stays valid: 90s, 20m, 2h (1m to 24h)',
      default: '20m',
    }),
    server: Flags.string({
      description: 'the gateway [default: the one you logged in to]',
      env: 'RESCUE_SERVER',
    }),
  }

  async run(): Promise<{ pin: string; expiresAt: string; server: string }> {
    const { flags } = await this.parse(Pin)
    const ttlSeconds = Math.round(parseDuration(flags.ttl) / 1000)
    const { server, token } = requireLogin(flags.server)
    const { pin, expiresAt } = await api.createPin(server, token, ttlSeconds)
    this.log(pin)
    this.logToStderr(
      `valid until ${new Date(expiresAt).toLocaleTimeString()}, once; the end user runs: rescue host --server ${server} --pin ${pin}`,
    )
    return { pin, expiresAt, server }
  }
}
