/**
 * `rescue reboot`: the technician asks the end user's computer to restart and come back into the
 * same session. The host asks the end user (`reboot`), keeps a sealed resume ticket (ticket.ts),
 * tells the technician, asks the gateway to hold the session, leaves, and runs the restart command;
 * after the restart `rescue host --resume` rejoins. Here: the technician's request and the host's
 * restart command. Imports core only.
 */
import { spawn } from 'node:child_process'
import type ssh2 from 'ssh2'
import { UserError } from '../errors.js'
import { REBOOT_SUBSYSTEM } from '../ssh/subsystems.js'
import { sanitizeForTerminal } from '../text/sanitize.js'

/** The host's answer when the end user allowed it: the restart is under way. */
export interface RebootScheduled {
  scheduled: true
  /** How long the host asked the gateway to hold the session (the gateway may hold it less). */
  graceMs: number
}

/** The system's restart command, or RESCUE_REBOOT_COMMAND (split on spaces, no shell; tests use a script). */
export function rebootCommand(): [string, string[]] {
  const configured = process.env.RESCUE_REBOOT_COMMAND?.trim()
  if (configured) {
    const [command, ...args] = configured.split(/\s+/)
    return [command!, args]
  }
  if (process.platform === 'darwin') return ['osascript', ['-e', 'tell app "System Events" to restart']]
  if (process.platform === 'win32') return ['shutdown', ['/r', '/t', '0']]
  return ['systemctl', ['reboot']]
}

/** Runs the restart command; rejects saying why when it cannot be run or fails. */
export function runRebootCommand(): Promise<void> {
  const [command, args] = rebootCommand()
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore', detached: true })
    child.once('error', (error) => reject(new Error(`${command}: ${error.message}`)))
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`)),
    )
  })
}

/** The technician's side: asks the host to restart; resolves once the end user allowed it and it is under way. */
export function requestReboot(client: ssh2.Client): Promise<RebootScheduled> {
  return new Promise((resolve, reject) => {
    client.subsys(REBOOT_SUBSYSTEM, (error, channel) => {
      if (error)
        return reject(
          new UserError('failure', `the end user's computer cannot be restarted from here: ${error.message}`),
        )
      let answer = ''
      channel.on('data', (chunk: Buffer) => (answer = (answer + chunk.toString('utf8')).slice(0, 1000)))
      channel.stderr.resume()
      channel.on('close', () => {
        let reply: { scheduled?: boolean; graceMs?: number; error?: string; code?: string } = {}
        try {
          reply = JSON.parse(answer.trim() || '{}') as typeof reply
        } catch {
          // No answer: the session ended.
        }
        if (reply.scheduled === true && typeof reply.graceMs === 'number' && reply.graceMs > 0) {
          return resolve({ scheduled: true, graceMs: reply.graceMs })
        }
        const codes = ['forbidden', 'failure', 'denied'] as const
        const code = codes.find((known) => known === reply.code) ?? 'denied'
        reject(
          new UserError(
            code,
            sanitizeForTerminal(reply.error ?? "the end user's computer was not restarted", 300),
          ),
        )
      })
      channel.end()
    })
  })
}
