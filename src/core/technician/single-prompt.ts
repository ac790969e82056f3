/**
 * The technician's side of the single prompt: one question to the end user for every permission
 * the technician's groups allow, for the rest of the session. The host answers by accepting the
 * `single-prompt@rescue` subsystem (allowed) or refusing it (denied, not answered, or not allowed
 * by policy), and says why (technician/refusals.ts).
 */
import type ssh2 from 'ssh2'
import { refusalFromStatus } from '../consent/refusal.js'
import { SINGLE_PROMPT_SUBSYSTEM } from '../consent/index.js'
import { UserError } from '../errors.js'
import { sanitizeForTerminal } from '../text/sanitize.js'

const HINT = 'ask for each thing as you need it'

/** Resolves once the end user allowed everything for the session; rejects with why otherwise. */
export function askForEverything(
  client: ssh2.Client,
  explain?: (permission: 'single-prompt') => Promise<UserError>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const withHint = (error: UserError) => new UserError(error.code, error.message, error.hint ?? HINT)
    client.subsys(SINGLE_PROMPT_SUBSYSTEM, (error, channel) => {
      if (error) {
        if (explain) return void explain('single-prompt').then((why) => reject(withHint(why)))
        return reject(new UserError('denied', 'the end user did not allow everything at once', HINT))
      }
      let status: number | undefined
      let stderr = ''
      channel.on('exit', (code: number | null) => (status = code ?? undefined))
      channel.on('data', () => {})
      channel.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < 1000) stderr += chunk.toString('utf8').slice(0, 1000)
      })
      // Through a control socket, a refusal arrives as the bridge's exit status and reason.
      channel.on('close', () => {
        const refused = refusalFromStatus(status, sanitizeForTerminal(stderr.trim(), 500))
        if (refused) reject(withHint(refused))
        else resolve()
      })
    })
  })
}
