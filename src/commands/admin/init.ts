import { Flags } from '@oclif/core'
import { databaseFlag } from '../../cli/admin-flags.js'
import { BaseCommand } from '../../cli/base-command.js'
import { promptHidden, readPassword } from '../../cli/read-secret.js'
import { UserError } from '../../core/errors.js'
import { initOrganisation, type TechnicianIdentity } from '../../core/accounts/index.js'
import { defaultDataDir } from '../../core/paths.js'
import { withStore } from '../../core/store/index.js'
import { redactUrl } from '../../core/store/postgres.js'

export default class AdminInit extends BaseCommand {
  static override summary = "Create a gateway's organisation and its master admin (also a technician)"
  static override description =
    'Run once on the gateway machine, on the same --data directory as rescue server (running or not). The admin is the master admin, in a group "admins" that allows every permission. The password (at least 12 characters, hard to guess) is read from stdin with --password-stdin, or asked twice without echo; it never goes in argv.'

  static override examples = [
    'printf \'%s\' "$ADMIN_PASSWORD" | <%= config.bin %> admin init --data ./data --email admin@example.com --password-stdin',
    '<%= config.bin %> admin init --data ./data --email alice@acme.example --name "Alice Smith" --organisation "Acme IT"',
    'RESCUE_DATABASE_URL=postgres://rescue@db.example/rescue <%= config.bin %> admin init --data ./keys --email admin@example.com',
  ]

  static override flags = {
    data: Flags.directory({ description: 'the gateway data directory', env: 'RESCUE_DATA' }),
    database: databaseFlag,
    email: Flags.string({ description: "the admin's email (their login)", required: true }),
    name: Flags.string({ description: 'the name end users see [default: the part of the email before @]' }),
    organisation: Flags.string({ description: 'the organisation end users see [default: the email domain]' }),
    'password-stdin': Flags.boolean({ description: 'read the password from stdin instead of asking' }),
  }

  async run(): Promise<{ admin: TechnicianIdentity; data: string }> {
    const { flags } = await this.parse(AdminInit)
    const password = await readPassword({
      fromStdin: flags['password-stdin'],
      prompt: `Password for ${flags.email}: `,
    })
    // Typed unseen, so typed twice: a slip here would lock the only master admin out.
    if (!flags['password-stdin'] && (await promptHidden('The same password again: ')) !== password) {
      throw new UserError(
        'usage',
        'the two passwords differ; nothing was created',
        'run rescue admin init again',
      )
    }
    const data = flags.data ?? defaultDataDir()
    const admin = await withStore({ dataDir: data, databaseUrl: flags.database }, (store) =>
      initOrganisation(store, {
        email: flags.email,
        password,
        name: flags.name,
        organisation: flags.organisation,
      }),
    )
    this.log(
      `created organisation "${admin.organisation}" with master admin ${admin.name} <${admin.email}> (group admins) in ${flags.database ? redactUrl(flags.database) : data}`,
    )
    return { admin, data }
  }
}
