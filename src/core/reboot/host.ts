/**
 * The host's `reboot@rescue`: asks the end user (`reboot`); once allowed, has the ticket written
 * (HostReboot.prepare), answers the technician, and only once that answer is through (the channel
 * closed, or two seconds) starts the restart (HostReboot.go): the session leaves for the gateway to
 * hold, then the restart command runs. Imports core only.
 */
import type { ServerChannel } from 'ssh2'
import type { ConsentOutcome } from '../consent/types.js'
import { refusalError } from '../consent/refusal.js'

/** What the host does for a restart the end user allowed (see host/index.ts). */
export interface HostReboot {
  /** Writes the resume ticket; returns how long the gateway is asked to hold the session. */
  prepare(): { graceMs: number }
  /** Leaves the session for the restart and runs the restart command. */
  go(): void
}

export interface RebootService {
  reboot?: HostReboot
  decide(): Promise<ConsentOutcome>
  tellRefusal(outcome: ConsentOutcome): void
  refuse(what: string): void
  closed(): boolean
}

/** How long the technician's answer may take to get through before the restart starts anyway. */
const ANSWER_WAIT_MS = 2000

export function serveReboot(channel: ServerChannel, service: RebootService): void {
  let started = false
  const answer = (reply: object) => {
    if (channel.destroyed) return
    channel.write(`${JSON.stringify(reply)}\n`)
    channel.exit(0)
    channel.end()
  }
  channel.on('error', () => {})
  channel.stderr.on('error', () => {})
  channel.on('data', () => {})
  const { reboot } = service
  if (!reboot) {
    service.refuse('restarting this computer: this rescue host cannot come back after a restart')
    return answer({ error: "the end user's rescue host cannot restart this computer", code: 'failure' })
  }
  void service.decide().then((outcome) => {
    if (!outcome.allowed || service.closed()) {
      service.tellRefusal(outcome)
      const refusal = refusalError({
        permission: outcome.permission,
        by: outcome.by,
        ...(outcome.seconds !== undefined ? { seconds: outcome.seconds } : {}),
      })
      return answer({ error: refusal.message, code: refusal.code })
    }
    let graceMs: number
    try {
      graceMs = reboot.prepare().graceMs
    } catch (error) {
      return answer({
        error: `the resume ticket could not be written: ${(error as Error).message}`,
        code: 'failure',
      })
    }
    const start = () => {
      if (started) return
      started = true
      reboot.go()
    }
    channel.once('close', start)
    setTimeout(start, ANSWER_WAIT_MS).unref()
    answer({ scheduled: true, graceMs })
  })
}
