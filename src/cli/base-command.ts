/**
 * The base of every rescue command: `--json` on all of them, one JSON envelope for errors, and
 * typed core errors turned into a message, a next step and the exit code from core/errors.ts
 * (no stack trace for a user's mistake).
 */
import { Command } from '@oclif/core'
import { BugError, toErrorBody, UserError } from '../core/errors.js'
import { toJsonLine } from '../core/text/json-line.js'

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true

  /** One line per JSON value, so scripts can read output line by line. */
  override logJson(json: unknown): void {
    process.stdout.write(`${toJsonLine(json)}\n`)
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    if (!(error instanceof UserError) && !(error instanceof BugError)) return super.catch(error)
    process.exitCode = error.exitCode
    if (this.jsonEnabled()) {
      this.logJson(toErrorBody(error))
      return
    }
    const lines = [`Error: ${error.message}`]
    if (error instanceof UserError && error.hint) lines.push(`Next: ${error.hint}`)
    if (error instanceof BugError)
      lines.push('This is a bug in rescue; please report it with the command you ran.')
    process.stderr.write(`${lines.join('\n')}\n`)
  }
}
