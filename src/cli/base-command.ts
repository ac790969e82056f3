/**
 * The base of every rescue command: `--json` on all of them, one JSON envelope for errors, and
 * typed core errors turned into a message, a next step and the exit code from core/errors.ts
 * (no stack trace for a user's mistake). oclif's own parse errors become usage errors too: under
 * `--json` oclif would print the whole parse state (package.json, the manifest: 90 KB) to stdout.
 */
import { Command, Errors } from '@oclif/core'
import { BugError, toErrorBody, UserError } from '../core/errors.js'
import { toJsonLine } from '../core/text/json-line.js'

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true

  /** One line per JSON value, so scripts can read output line by line. */
  override logJson(json: unknown): void {
    process.stdout.write(`${toJsonLine(json)}\n`)
  }

  protected override async catch(thrown: Error & { exitCode?: number }): Promise<unknown> {
    const error = isParseError(thrown) ? usageError(thrown, this.id) : tokenError(thrown)
    if (!(error instanceof UserError) && !(error instanceof BugError)) return super.catch(error)
    process.exitCode = error.exitCode
    if (this.jsonEnabled()) {
      // A usage error is no result: stdout stays empty for the script that reads it.
      const stream = error.code === 'usage' ? process.stderr : process.stdout
      stream.write(`${toJsonLine(toErrorBody(error))}\n`)
      return
    }
    process.stderr.write(`${humanLines(error).join('\n')}\n`)
  }
}

/** The lines a person reads; a deliberate ending (Ctrl-C, SIGTERM) is news, not an error. */
export function humanLines(error: UserError | BugError): string[] {
  const deliberate = error.code === 'interrupted' || error.code === 'terminated'
  const lines = [deliberate ? error.message : `Error: ${error.message}`]
  if (error instanceof UserError && error.hint) lines.push(`Next: ${error.hint}`)
  if (error instanceof BugError)
    lines.push('This is a bug in rescue; please report it with the command you ran.')
  return lines
}

function isParseError(error: Error): error is Errors.CLIError & { parse: unknown } {
  return error instanceof Errors.CLIError && 'parse' in error
}

/** oclif's multi-line message as one short line, and the command's help as the next step. */
function usageError(error: Error, id: string | undefined): UserError {
  const message = error.message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^See more help with/i.test(line))
    .map((line) => line.replace(/^The following errors? occurred:/i, '').trim())
    .join(' ')
    .slice(0, 400)
  const command = id ? `rescue ${id.replaceAll(':', ' ')} --help` : 'rescue --help'
  return new UserError('usage', message, `see ${command}`)
}

/**
 * A gateway that refuses the token says why (unknown, revoked, expired); this adds whose token it
 * was and what to do about that one: a script's RESCUE_TOKEN is not fixed by logging in again.
 */
function tokenError(error: Error): Error {
  if (!(error instanceof UserError) || error.code !== 'notLoggedIn' || !/^the token /.test(error.message)) {
    return error
  }
  return process.env.RESCUE_TOKEN
    ? new UserError(
        'notLoggedIn',
        `RESCUE_TOKEN was refused: ${error.message}`,
        'ask an admin for a new script token (rescue admin tokens create), or unset RESCUE_TOKEN to use your saved login',
      )
    : new UserError(
        'notLoggedIn',
        `your saved login was refused: ${error.message}`,
        'run rescue login to log in again',
      )
}
