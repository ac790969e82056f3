import { Args, Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { formatGroups } from '../../../cli/admin-format.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { parseDuration } from '../../../cli/duration.js'
import type { GroupSummary } from '../../../core/accounts/index.js'
import { parseCidrList } from '../../../core/accounts/cidr.js'
import { api, type GroupSettings } from '../../../core/client/index.js'
import { parsePermissionList, permissions } from '../../../core/consent/types.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminGroupsSet extends BaseCommand {
  static override summary = "Set a group's permissions and login policy"
  static override description = `A permission is effective for a user when one of their groups allows it and none denies it; --allow and --deny replace the group's lists. Permissions: ${permissions.join(', ')} (chat is always allowed; an unknown name is an error).

2FA is required when any of a user's groups requires it; an address must be in every allow-list of the user's groups, at login and on every call; the idle timeout is the smallest of the groups', after which the login token is revoked.`

  static override examples = [
    '<%= config.bin %> admin groups set helpdesk --allow shell,sysinfo,files.send,private --deny exec',
    '<%= config.bin %> admin groups set helpdesk --single-prompt --require-2fa --ip-allow 10.0.0.0/8 --idle-timeout 15m',
    '<%= config.bin %> admin groups set helpdesk --no-require-2fa --ip-allow-any --idle-timeout off --json',
  ]

  static override args = { name: Args.string({ description: 'the group', required: true }) }

  static override flags = {
    allow: Flags.string({
      description: 'the permissions the group allows, comma-separated (replaces the list)',
    }),
    deny: Flags.string({
      description: 'the permissions the group denies, comma-separated (replaces the list)',
    }),
    'single-prompt': Flags.boolean({
      description: 'let the end user grant everything with one prompt (the single-prompt permission)',
      allowNo: true,
    }),
    'require-2fa': Flags.boolean({ description: 'require a TOTP code at login', allowNo: true }),
    'ip-allow': Flags.string({
      description:
        'addresses or CIDR blocks members may log in and call from, comma-separated (replaces the list)',
      exclusive: ['ip-allow-any'],
    }),
    'ip-allow-any': Flags.boolean({ description: 'lift the address restriction', exclusive: ['ip-allow'] }),
    'idle-timeout': Flags.string({ description: 'log members out after this long unused: 15m, 1h, or off' }),
    recording: Flags.string({
      description:
        "record members' shells and commands, sealed to the organisation's recording key: off, required, or required-input (keystrokes too)",
      options: ['off', 'required', 'required-input'],
    }),
    server: serverFlag,
  }

  async run(): Promise<{ group: GroupSummary }> {
    const { args, flags } = await this.parse(AdminGroupsSet)
    const idle = flags['idle-timeout']
    // Parsed here too, so a mistake is named before anything reaches the gateway.
    const settings: GroupSettings = {
      ...(flags.allow !== undefined ? { allow: parsePermissionList(flags.allow) } : {}),
      ...(flags.deny !== undefined ? { deny: parsePermissionList(flags.deny) } : {}),
      ...(flags['single-prompt'] !== undefined ? { singlePrompt: flags['single-prompt'] } : {}),
      ...(flags['require-2fa'] !== undefined ? { require2fa: flags['require-2fa'] } : {}),
      ...(flags['ip-allow'] !== undefined ? { ipAllow: parseCidrList(flags['ip-allow']) } : {}),
      ...(flags['ip-allow-any'] ? { ipAllow: [] } : {}),
      ...(idle !== undefined ? { idleTimeoutMs: idle.trim() === 'off' ? null : parseDuration(idle) } : {}),
      ...(flags.recording ? { recording: flags.recording as GroupSettings['recording'] } : {}),
    }
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.setGroup(server, token, args.name, settings)
    for (const line of formatGroups([result.group])) this.log(line)
    return result
  }
}
