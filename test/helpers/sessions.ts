/** Both sides of a session through the real core session runner, with their events recorded. */
import { startSession, type Session, type SessionEvent } from '../../src/core/session/index.js'
import { generateSshKeyPair } from '../../src/core/ssh/keys.js'
import type { TestGateway } from './gateway.js'

export interface RecordedSession {
  session: Session
  events: SessionEvent[]
  paired: Promise<Extract<SessionEvent, { event: 'paired' }>>
}

export async function joinAs(
  role: 'host' | 'technician',
  gw: TestGateway,
  pin: string,
  token = gw.token,
): Promise<RecordedSession> {
  const events: SessionEvent[] = []
  let onPaired!: (event: Extract<SessionEvent, { event: 'paired' }>) => void
  const paired = new Promise<Extract<SessionEvent, { event: 'paired' }>>((resolve) => (onPaired = resolve))
  const session = await startSession({
    server: gw.url,
    entry: { pin },
    role,
    sshPublicKey: generateSshKeyPair().publicKey,
    ...(role === 'technician' ? { token } : {}),
    onEvent: (event) => {
      events.push(event)
      if (event.event === 'paired') onPaired(event)
    },
  })
  return { session, events, paired }
}
