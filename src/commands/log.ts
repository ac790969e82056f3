import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { defaultAuditPath, formatAuditLine, readAuditLog, type AuditEntry } from '../core/audit/index.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'

export default class Log extends BaseCommand {
  static override summary = "Show what technicians did on this computer (the host's audit log)"
  static override description =
    'rescue host records every session, consent request and decision, and channel in $XDG_STATE_HOME/rescue/audit.jsonl (~/.local/state/rescue/audit.jsonl), a file only you can read. Set RESCUE_AUDIT_LOG to an absolute path to read another file.'

  static override examples = [
    '<%= config.bin %> log',
    '<%= config.bin %> log --session abcdefgh',
    '<%= config.bin %> log --json',
  ]

  static override flags = {
    session: Flags.string({
      description: 'only this session: its ID, or its first 6 characters or more (the log shows the first 8)',
    }),
  }

  async run(): Promise<{ file: string; entries: AuditEntry[]; skipped: number }> {
    const { flags } = await this.parse(Log)
    const file = defaultAuditPath()
    const { entries, skipped } = readAuditLog(
      file,
      flags.session === undefined ? {} : { session: flags.session },
    )
    if (!this.jsonEnabled()) {
      for (const entry of entries) this.log(formatAuditLine(entry))
      if (entries.length === 0) {
        this.log(
          flags.session === undefined
            ? 'The audit log is empty: no technician has connected to this computer yet.'
            : `The audit log has nothing for session ${sanitizeForTerminal(flags.session, 40)}.`,
        )
      }
      if (skipped > 0) {
        this.logToStderr(
          `Warning: ${skipped} ${skipped === 1 ? 'line' : 'lines'} of ${file} could not be read and ${skipped === 1 ? 'was' : 'were'} skipped.`,
        )
      }
    }
    return { file, entries, skipped }
  }
}
