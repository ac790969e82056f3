import { Flags } from '@oclif/core'
import { serverFlag } from '../../../cli/admin-flags.js'
import { formatSessionsTable } from '../../../cli/compliance-format.js'
import { BaseCommand } from '../../../cli/base-command.js'
import { api } from '../../../core/client/index.js'
import { parseReportRange, sessionsCsv, type SessionSummary } from '../../../core/compliance/index.js'
import { requireLogin } from '../../../core/credentials/index.js'

export default class AdminReportSessions extends BaseCommand {
  static override summary =
    'Report sessions: who helped whom, when, how long, how it ended, what was allowed, which files'
  static override description =
    'Sessions begun in [--from, --to), newest first. Dates are UTC, YYYY-MM-DD (as --to it includes that day) or ISO date and time; --to defaults to now and --from to 30 days before it. The host name shows only when the end user chose to send it. CSV is UTF-8 with a byte-order mark, RFC 4180 quoting, and cells that a spreadsheet would run as a formula (= + - @) start with a quote. Masters see every session; an admin, those of their groups.'

  static override examples = [
    '<%= config.bin %> admin report sessions --from 2026-01-01 --to 2026-01-31',
    '<%= config.bin %> admin report sessions --technician bob@acme.example --format csv > january.csv',
    '<%= config.bin %> admin report sessions --group helpdesk --format json',
  ]

  static override flags = {
    from: Flags.string({ description: 'the first day (or instant), UTC [default: 30 days before --to]' }),
    to: Flags.string({
      description: 'the last day, included (or the instant it stops before), UTC [default: now]',
    }),
    technician: Flags.string({ description: "only this technician's sessions (email)" }),
    group: Flags.string({ description: "only the sessions of this group's members and shared queue" }),
    format: Flags.string({
      description: 'how to print it',
      options: ['table', 'csv', 'json'],
      default: 'table',
    }),
    server: serverFlag,
  }

  async run(): Promise<{ from: string; to: string; sessions: SessionSummary[] }> {
    const { flags } = await this.parse(AdminReportSessions)
    const range = parseReportRange({ from: flags.from, to: flags.to })
    const { server, token } = requireLogin(flags.server)
    const result = await api.admin.reportSessions(server, token, {
      ...range,
      ...(flags.technician !== undefined ? { technician: flags.technician } : {}),
      ...(flags.group !== undefined ? { group: flags.group } : {}),
    })
    if (this.jsonEnabled()) return result
    if (flags.format === 'csv') process.stdout.write(sessionsCsv(result.sessions))
    else if (flags.format === 'json') this.logJson(result)
    else for (const line of formatSessionsTable(result.sessions)) this.log(line)
    return result
  }
}
