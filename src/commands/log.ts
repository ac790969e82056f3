import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import {
  defaultAuditPath,
  formatAuditLine,
  readAuditLog,
  verifyAuditLog,
  type AuditEntry,
  type AuditVerification,
} from '../core/audit/index.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'

type LogResult = { file: string; entries: AuditEntry[]; skipped: number }

export default class Log extends BaseCommand {
  static override summary = "Show what technicians did on this computer (the host's audit log)"
  static override description = `rescue host records every session, consent request and decision, and channel in $XDG_STATE_HOME/rescue/audit.jsonl (~/.local/state/rescue/audit.jsonl), a file only you can read. Set RESCUE_AUDIT_LOG to an absolute path to read another file.

Each entry carries the SHA-256 of the entry before it. --verify checks that chain: an entry edited, removed, inserted or moved breaks it (exit code 19, naming the first line that no longer links). It cannot show a change by someone who rebuilt the whole chain, an edit of the very last entry, or entries cut off the end: the gateway's session log is the copy this computer cannot change. Entries written by rescue before the chain existed are reported as unchained, not as changed.`

  static override examples = [
    '<%= config.bin %> log',
    '<%= config.bin %> log --session abcdefgh',
    '<%= config.bin %> log --json',
    '<%= config.bin %> log --verify',
  ]

  static override flags = {
    session: Flags.string({
      description: 'only this session: its ID, or its first 6 characters or more (the log shows the first 8)',
      exclusive: ['verify'],
    }),
    verify: Flags.boolean({
      description: "check the log's hash chain: whether any entry was edited, removed, inserted or moved",
      exclusive: ['session'],
    }),
  }

  async run(): Promise<LogResult | AuditVerification> {
    const { flags } = await this.parse(Log)
    const file = defaultAuditPath()
    if (flags.verify) {
      const verification = verifyAuditLog(file)
      if (!this.jsonEnabled()) this.log(describeVerification(verification))
      return verification
    }
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

const count = (entries: number) => `${entries} ${entries === 1 ? 'entry' : 'entries'}`

function describeVerification(verification: AuditVerification): string {
  const file = sanitizeForTerminal(verification.file, 500)
  switch (verification.status) {
    case 'unchained':
      return `${file}: unchained, ${count(verification.entries)} written by an older rescue, before entries were chained; they cannot be checked.`
    case 'intact':
      return verification.unchained === 0
        ? `${file}: intact, ${count(verification.entries)}.`
        : `${file}: intact, ${count(verification.entries)}; the first ${verification.unchained}, written by an older rescue before entries were chained, cannot be checked.`
  }
}
