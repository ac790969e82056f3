/**
 * The technician's side of the single prompt: one question to the end user for every permission
 * the technician's groups allow, for the rest of the session. The host answers by accepting the
 * `single-prompt@rescue` subsystem (allowed) or refusing it (denied, or not allowed by policy).
 */
import type ssh2 from 'ssh2'
import { ExitCode, UserError } from '../errors.js'
import { SINGLE_PROMPT_SUBSYSTEM } from '../consent/index.js'

/** Resolves once the end user allowed everything; rejects with a `denied` UserError otherwise. */
export function askForEverything(client: ssh2.Client): Promise<void> {
  return new Promise((resolve, reject) => {
    const denied = () =>
      new UserError(
        'denied',
        'the end user did not allow everything at once',
        'your group may not allow a single prompt, or they said no; ask for each thing as you need it',
      )
    client.subsys(SINGLE_PROMPT_SUBSYSTEM, (error, channel) => {
      if (error) return reject(denied())
      let status: number | undefined
      channel.on('exit', (code: number | null) => (status = code ?? undefined))
      channel.on('data', () => {})
      channel.stderr.resume()
      // Through a control socket, a refusal arrives as the bridge's exit status.
      channel.on('close', () => (status === ExitCode.denied ? reject(denied()) : resolve()))
    })
  })
}
