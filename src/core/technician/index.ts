/**
 * The technician's side of a session: pairs, then connects SSH over the sealed-and-verified
 * stream, trusting only the host key that came inside the sealed channel. What to do with the SSH
 * connection (a shell, a command, nothing) is the caller's. Imports core only.
 */
import type ssh2 from 'ssh2'
import { UserError } from '../errors.js'
import { startSession, type Session, type SessionEvent } from '../session/index.js'
import { generateSshKeyPair } from '../ssh/keys.js'
import { connectSsh } from '../ssh/technician-client.js'

export interface TechnicianOptions {
  server: string
  pin: string
  token: string
  onEvent(event: SessionEvent): void
}

export interface TechnicianSession {
  session: Session
  /** Resolves once SSH is up; rejects with a UserError when the session ends first. */
  ssh: Promise<ssh2.Client>
}

/** Starts the technician side; rejects with a UserError when the gateway refuses. */
export async function startTechnician(options: TechnicianOptions): Promise<TechnicianSession> {
  const keys = generateSshKeyPair()
  let resolveSsh!: (client: ssh2.Client) => void
  let rejectSsh!: (error: Error) => void
  const ssh = new Promise<ssh2.Client>((resolve, reject) => {
    resolveSsh = resolve
    rejectSsh = reject
  })
  // Callers that never ask for SSH must not see an unhandled rejection.
  ssh.catch(() => {})
  let client: ssh2.Client | undefined

  const session: Session = await startSession({
    server: options.server,
    pin: options.pin,
    role: 'technician',
    token: options.token,
    sshPublicKey: keys.publicKey,
    onEvent(event) {
      if (event.event === 'ended') {
        client?.end()
        rejectSsh(new UserError(event.code ?? 'sessionEnded', `the session ended: ${event.reason}`))
      }
      options.onEvent(event)
    },
    onSecured({ transport, peerSshKey }) {
      connectSsh({ transport, privateKey: keys.privateKey, hostKey: peerSshKey }).then(
        (connected) => {
          client = connected
          // The SSH transport dying on its own (not through the session) ends the session.
          connected.on('error', (error) =>
            session.end({ reason: `SSH failed: ${error.message}`, code: 'connectionLost' }),
          )
          resolveSsh(connected)
        },
        (error: UserError) => {
          rejectSsh(error)
          session.end({ reason: error.message, code: 'pairingFailed' })
        },
      )
    },
  })
  return { session, ssh }
}
