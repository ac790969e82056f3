/**
 * The technician's end of `refusals@rescue`: the host writes why it refuses each channel request
 * (shell, exec, sysinfo, the single prompt) just before refusing it, since an SSH channel
 * request's failure carries no reason. `explain` turns the next reason for a permission into the
 * error the technician reads ("the end user did not answer within 60 s", exit 15; "your group's
 * policy does not allow the shell", exit 17). Imports core only.
 */
import type ssh2 from 'ssh2'
import { refusalError, refusalSchema, type Refusal } from '../consent/refusal.js'
import type { Permission } from '../consent/types.js'
import { UserError } from '../errors.js'
import { REFUSALS_SUBSYSTEM } from '../ssh/subsystems.js'
import { LineReader } from '../transfer/protocol.js'

/** How long a refusal's failure waits for its reason, should the two be handed over out of step. */
const REASON_WAIT_MS = 1000
/** Reasons nobody asked for (another client on the same session) are dropped beyond this many. */
const MAX_QUEUED = 64

/** Why the host refused, when it said nothing (a host without the refusals channel). */
export const unexplained = () => new UserError('denied', 'denied by the end user')

export class Refusals {
  private readonly queue: Refusal[] = []
  private readonly waiting = new Set<() => void>()

  /** Opens the channel on `client`; a host that refuses it only means reasons stay unknown. */
  static open(client: ssh2.Client): Refusals {
    const refusals = new Refusals()
    client.subsys(REFUSALS_SUBSYSTEM, (error, channel) => {
      if (error) return
      const reader = new LineReader()
      channel.on('data', (chunk: Buffer) => {
        let lines: string[]
        try {
          lines = reader.push(chunk)
        } catch {
          return channel.close()
        }
        for (const line of lines) refusals.receive(line)
      })
      channel.stderr.resume()
      channel.on('error', () => {})
    })
    return refusals
  }

  /** The error for the refusal of a request for `permission`: its reason, or a plain denial. */
  async explain(permission: Permission): Promise<UserError> {
    const deadline = Date.now() + REASON_WAIT_MS
    for (;;) {
      const index = this.queue.findIndex((refusal) => refusal.permission === permission)
      if (index >= 0) return refusalError(this.queue.splice(index, 1)[0]!)
      const left = deadline - Date.now()
      if (left <= 0) return unexplained()
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer)
          this.waiting.delete(wake)
          resolve()
        }
        const timer = setTimeout(wake, left)
        this.waiting.add(wake)
      })
    }
  }

  /** One line from the host: a valid refusal is queued, anything else dropped. */
  receive(line: string): void {
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      return
    }
    const refusal = refusalSchema.safeParse(parsed)
    if (!refusal.success) return
    this.queue.push(refusal.data)
    if (this.queue.length > MAX_QUEUED) this.queue.shift()
    for (const wake of [...this.waiting]) wake()
  }
}
