/**
 * The technician's SSH client, run on the session's relayed stream once the sealed pairing is
 * done. It trusts only the host key received inside the sealed channel and proves itself with
 * this session's own key. A channel request the host refuses is the end user's denial.
 */
import type { Duplex, Readable, Writable } from 'node:stream'
import ssh2, { type ClientChannel, type ParsedKey } from 'ssh2'
import { UserError } from '../errors.js'

export interface TechnicianSshOptions {
  transport: Duplex
  /** This session's client key (OpenSSH private key text). */
  privateKey: string
  /** The host's key, as received inside the sealed channel: the only one trusted. */
  hostKey: ParsedKey
}

/** Connects SSH over the session; rejects with pairingFailed when the host is not the one paired. */
export function connectSsh(options: TechnicianSshOptions): Promise<ssh2.Client> {
  const client = new ssh2.Client()
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve(client))
    client.once('error', (error) =>
      reject(new UserError('pairingFailed', `SSH to the end user's computer failed: ${error.message}`)),
    )
    client.connect({
      sock: options.transport as never,
      username: 'rescue',
      privateKey: options.privateKey,
      hostVerifier: (key: Buffer) => key.equals(options.hostKey.getPublicSSH()),
      readyTimeout: 20_000,
      keepaliveInterval: 0,
      ident: 'rescue',
    })
  })
}

export interface RemoteExit {
  /** The remote command's exit status, when it exited normally. */
  exitCode?: number
  /** The signal that ended it (without SIG), when it was killed. */
  signal?: string
  /** Why the host ended it, when it said (a revoked grant). */
  message?: string
}

const denied = () => new UserError('denied', 'denied by the end user')

/** Runs one command without a PTY, streaming its stdout and stderr separately. */
export function runRemoteCommand(
  client: ssh2.Client,
  command: string,
  io: { stdout: Writable; stderr: Writable; stdin?: Readable; onOpen?: (channel: ClientChannel) => void },
): Promise<RemoteExit> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(denied())
      io.onOpen?.(channel)
      io.stdin?.pipe(channel)
      channel.pipe(io.stdout, { end: false })
      channel.stderr.pipe(io.stderr, { end: false })
      settleOnClose(channel, () => io.stdin?.unpipe(channel)).then(resolve, reject)
    })
  })
}

/** Opens a shell, with a PTY of this size when `pty` is given; rejects with `denied` when refused. */
export function openRemoteShell(
  client: ssh2.Client,
  pty: { term: string; cols: number; rows: number } | undefined,
): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | undefined, channel: ClientChannel) =>
      error ? reject(denied()) : resolve(channel)
    if (pty) client.shell({ term: pty.term, cols: pty.cols, rows: pty.rows }, done)
    else client.shell(false, done)
  })
}

/** Resolves with how the remote side ended once the channel closes. */
export function settleOnClose(channel: ClientChannel, cleanup: () => void = () => {}): Promise<RemoteExit> {
  return new Promise((resolve) => {
    let exit: RemoteExit = {}
    channel.on('exit', (code: number | null, signal?: string, _dump?: boolean, message?: string) => {
      exit =
        code !== null && code !== undefined
          ? { exitCode: code }
          : { ...(signal ? { signal: signal.replace(/^SIG/, '') } : {}), ...(message ? { message } : {}) }
    })
    channel.on('close', () => {
      cleanup()
      resolve(exit)
    })
  })
}

/** Opens one of rescue's subsystems; rejects with `denied` when the host refuses it. */
export function openSubsystem(client: ssh2.Client, name: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.subsys(name, (error, channel) => (error ? reject(denied()) : resolve(channel)))
  })
}
