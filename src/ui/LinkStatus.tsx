import { Text } from 'ink'
import type { Role } from '../core/protocol/control-messages.js'
import type { SessionViewState } from '../core/session/view-state.js'

/** While a link under the session is down: whose, and how long the session is still held. */
export function LinkStatus({
  link,
  role,
  now,
}: {
  link: NonNullable<SessionViewState['link']>
  role: Role
  now: number
}) {
  const left = Math.max(0, Math.ceil((link.since + link.graceMs - now) / 1000))
  const peer = role === 'host' ? "the technician's" : "the end user's"
  if (link.restarting) {
    return (
      <Text color="yellow">
        ● the end user's computer is restarting; waiting up to {Math.ceil(left / 60)} min for rescue host
        --resume…
      </Text>
    )
  }
  return (
    <Text color="yellow">
      ● {link.side === 'self' ? 'connection lost, reconnecting' : `${peer} connection dropped, waiting`} (
      {left} s left)…
    </Text>
  )
}
