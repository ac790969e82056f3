/**
 * The other end of a live `rescue connect`'s control socket: finds the session's socket in the
 * runtime folder (the only one, or the one `--session` names) and connects an SSH client to it,
 * for `rescue sysinfo` and `rescue chat`. Imports core only.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import ssh2 from 'ssh2'
import { UserError } from '../errors.js'
import { runtimeDir } from '../paths.js'

/** The socket of the live session: the only one, or the one whose id starts with `session`. */
export function findControlSocket(session?: string, dir = runtimeDir()): string {
  const sockets = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.sock'))
    .map((name) => name.slice(0, -'.sock'.length))
    .filter((id) => session === undefined || id.startsWith(session.toLowerCase()))
  if (sockets.length === 0) {
    throw new UserError(
      'failure',
      session ? `no live session ${session} on this machine` : 'no live session on this machine',
      'start one with rescue connect --pin PIN, and keep it running',
    )
  }
  if (sockets.length > 1) {
    throw new UserError(
      'usage',
      `${sockets.length} live sessions: ${sockets.join(', ')}`,
      'choose one with --session ID',
    )
  }
  return path.join(dir, `${sockets[0]!}.sock`)
}

/** An SSH client on the live session's control socket. */
export function openControl(session?: string): Promise<ssh2.Client> {
  const socketPath = findControlSocket(session)
  const client = new ssh2.Client()
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve(client))
    client.once('error', (error) =>
      reject(
        new UserError(
          'connectionLost',
          `cannot reach the live session at ${socketPath}: ${error.message}`,
          'is its rescue connect still running?',
        ),
      ),
    )
    client.connect({ sock: net.connect(socketPath), username: 'rescue', readyTimeout: 10_000 })
  })
}
