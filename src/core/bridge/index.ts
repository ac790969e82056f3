/**
 * A local SSH server in front of a live session, so ordinary tools can use it: `ssh`, `scp`,
 * `sftp` and `rsync -e ssh` at `rescue connect --listen PORT`. Each channel they open (shell,
 * exec, a subsystem such as sftp) is bridged to the same request on the session's SSH connection
 * to the end user's computer, where it meets the same consent as any other: the bridge decides
 * nothing. It listens on loopback only and accepts only a one-time key made for this session.
 * Imports core only.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import ssh2, { type AuthContext, type ClientChannel, type Connection, type ServerChannel } from 'ssh2'
import type { Permission } from '../consent/index.js'
import { ExitCode, UserError } from '../errors.js'
import { serveTransferRequest } from '../control/transfers.js'
import { generateSshKeyPair, parsePeerPublicKey } from '../ssh/keys.js'
import { SINGLE_PROMPT_SUBSYSTEM, SYSINFO_SUBSYSTEM, TRANSFER_SUBSYSTEM } from '../ssh/subsystems.js'
import { CLIPBOARD_SUBSYSTEM, PRESENT_SUBSYSTEM, REBOOT_SUBSYSTEM, URL_SUBSYSTEM } from '../ssh/subsystems.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { coalesceWrites } from '../transport/coalesce.js'

export interface BridgeOptions {
  /** The session's SSH connection to the end user's computer. */
  upstream: ssh2.Client
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number
  /** Where the one-time key and known_hosts file are written (created 0700). */
  dir: string
  /** Asks the gateway whether the technician's groups allow a request; rejects when they do not. */
  check?: PolicyCheck
  /** Why the end user's side refused a request for a permission (see technician/refusals.ts). */
  explain?: Explain
}

/** Resolves when the gateway allows any of `permissions` (an empty list needs none); rejects otherwise. */
export type PolicyCheck = (permissions: Permission[]) => Promise<void>
const noCheck: PolicyCheck = () => Promise.resolve()
/** The error that says why the host refused a request for `permission`. */
export type Explain = (permission: Permission) => Promise<UserError>
const noExplain: Explain = () => Promise.resolve(new UserError('denied', 'denied by the end user'))

const FILE_PERMISSIONS: Permission[] = ['files.send', 'files.receive', 'files.browse', 'files.modify']
/** What the gateway must allow before a subsystem is asked for; chat needs nothing. */
const subsystemPermissions: Record<string, Permission[]> = {
  sftp: FILE_PERMISSIONS,
  [TRANSFER_SUBSYSTEM]: FILE_PERMISSIONS,
  [SYSINFO_SUBSYSTEM]: ['sysinfo'],
  [SINGLE_PROMPT_SUBSYSTEM]: ['single-prompt'],
  [URL_SUBSYSTEM]: ['url'],
  [CLIPBOARD_SUBSYSTEM]: ['clipboard'],
  [REBOOT_SUBSYSTEM]: ['reboot'],
  [PRESENT_SUBSYSTEM]: ['present'],
}

export interface Bridge {
  port: number
  /** The one-time private key for `ssh -i` (0600). */
  keyFile: string
  /** A known_hosts file naming this bridge's host key, so ssh checks it. */
  knownHostsFile: string
  /** Ready-to-paste command lines. */
  commands: { ssh: string; scp: string; sftp: string; rsync: string }
  close(): Promise<void>
}

export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 })
  const hostKey = generateSshKeyPair()
  const clientKey = generateSshKeyPair()
  const allowed = parsePeerPublicKey(clientKey.publicKey)!
  const connections = new Set<Connection>()

  const server = bridgeServer(
    options.upstream,
    options.check ?? noCheck,
    options.explain ?? noExplain,
    hostKey.privateKey,
    connections,
    (context) => authenticate(context, allowed),
  )
  // Our own listener, so that each client's socket is ours to tune before ssh2 takes it.
  const listener = net.createServer((socket) => {
    // Interactive traffic: without this, a small packet after another waits for the peer's delayed
    // ACK (40 ms on Linux), which was every sftp request's and echoed keystroke's latency.
    socket.setNoDelay(true)
    // ssh2 writes each packet of a reply on its own: they leave together (transport/coalesce.ts).
    coalesceWrites(socket)
    server.injectSocket(socket)
  })
  const port = await new Promise<number>((resolve, reject) => {
    listener.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new UserError(
          'usage',
          `cannot listen on 127.0.0.1:${options.port}: ${error.code ?? error.message}`,
          'choose another --listen port, or 0 for a free one',
        ),
      ),
    )
    listener.listen(options.port, '127.0.0.1', () => resolve((listener.address() as net.AddressInfo).port))
  })

  const keyFile = path.join(options.dir, 'id_ed25519')
  const knownHostsFile = path.join(options.dir, 'known_hosts')
  fs.writeFileSync(keyFile, hostKeyText(clientKey.privateKey), { mode: 0o600 })
  fs.writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostKey.publicKey}\n`, { mode: 0o600 })
  const sshOptions = `-i ${keyFile} -o UserKnownHostsFile=${knownHostsFile} -o IdentitiesOnly=yes`
  return {
    port,
    keyFile,
    knownHostsFile,
    commands: {
      ssh: `ssh -p ${port} ${sshOptions} rescue@127.0.0.1`,
      scp: `scp -P ${port} ${sshOptions} LOCAL rescue@127.0.0.1:REMOTE`,
      sftp: `sftp -P ${port} ${sshOptions} rescue@127.0.0.1`,
      rsync: `rsync -a -e 'ssh -p ${port} ${sshOptions}' LOCAL/ rescue@127.0.0.1:REMOTE/`,
    },
    async close() {
      for (const connection of connections) connection.end()
      await new Promise<void>((resolve) => listener.close(() => resolve()))
      fs.rmSync(options.dir, { recursive: true, force: true })
    },
  }
}

function bridgeServer(
  upstream: ssh2.Client,
  check: PolicyCheck,
  explain: Explain,
  hostKey: string,
  connections: Set<Connection>,
  authenticate: (context: AuthContext) => void,
): ssh2.Server {
  return new ssh2.Server({ hostKeys: [hostKey], ident: 'rescue-bridge' }, (connection) => {
    connections.add(connection)
    connection.on('close', () => connections.delete(connection))
    connection.on('error', () => connection.end())
    connection.on('authentication', authenticate)
    connection.on('ready', () =>
      connection.on('session', (accept) => bridgeSession(accept(), upstream, check, explain)),
    )
  })
}

export interface ControlSocket {
  path: string
  close(): Promise<void>
}

/**
 * The session's control socket, through which `rescue sysinfo`, `chat`, `send` and `get` act on a
 * live `rescue connect`: the same bridge on a Unix socket (0600, in a 0700 folder of ours), where
 * the file's permissions are the authentication; `send` and `get` ask connect to run the copy
 * itself instead (control/transfers.ts).
 */
export async function startControlSocket(
  upstream: ssh2.Client,
  socketPath: string,
  check: PolicyCheck = noCheck,
  explain: Explain = noExplain,
): Promise<ControlSocket> {
  const connections = new Set<Connection>()
  // Made when the first SSH client (sysinfo, chat) comes, not here: its host key costs 10-25 ms
  // of CPU, which every `rescue connect` paid between SSH being ready and its first request, for a
  // server most sessions never use (issue 12). send and get do not use it.
  let server: ssh2.Server | undefined
  const sshServer = () =>
    (server ??= bridgeServer(
      upstream,
      check,
      explain,
      generateSshKeyPair().privateKey,
      connections,
      (context) => context.accept(),
    ))
  // A client's first byte says what it speaks: `{` a copy for `rescue send` / `get`, run on the
  // session's own SSH connection (control/transfers.ts); anything else SSH, for sysinfo and chat.
  const sockets = new Set<net.Socket>()
  const listener = net.createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.once('error', () => socket.destroy())
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null
      if (!first) return void socket.destroy()
      socket.unshift(first)
      if (first[0] === 0x7b) serveTransferRequest(socket, upstream, check)
      else sshServer().injectSocket(socket)
    })
  })
  fs.rmSync(socketPath, { force: true })
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject)
    // umask 0177 while binding, so the socket is never reachable by others even for an instant.
    const previous = process.umask(0o177)
    try {
      listener.listen(socketPath, () => resolve())
    } finally {
      process.umask(previous)
    }
  })
  fs.chmodSync(socketPath, 0o600)
  return {
    path: socketPath,
    async close() {
      for (const connection of connections) connection.end()
      for (const socket of sockets) socket.end()
      await new Promise<void>((resolve) => listener.close(() => resolve()))
      fs.rmSync(socketPath, { force: true })
    },
  }
}

// OpenSSH wants the key file to end with a newline.
const hostKeyText = (text: string) => (text.endsWith('\n') ? text : `${text}\n`)

function authenticate(context: AuthContext, allowed: ssh2.ParsedKey): void {
  if (
    context.method !== 'publickey' ||
    context.key.algo !== allowed.type ||
    !context.key.data.equals(allowed.getPublicSSH())
  ) {
    return context.reject(['publickey'])
  }
  if (!context.signature) return context.accept()
  if (allowed.verify(context.blob!, context.signature, context.hashAlgo) === true) context.accept()
  else context.reject(['publickey'])
}

interface PtyInfo {
  term: string
  cols: number
  rows: number
}

/** Forwards one local session channel's request to the same request upstream. */
function bridgeSession(
  session: ssh2.Session,
  upstream: ssh2.Client,
  check: PolicyCheck,
  explain: Explain,
): void {
  let pty: PtyInfo | undefined
  let remote: ClientChannel | undefined
  session.on('pty', (accept, _reject, info) => {
    pty = { term: info.term, cols: info.cols, rows: info.rows }
    accept?.()
  })
  session.on('window-change', (accept, _reject, info) => {
    remote?.setWindow(info.rows, info.cols, info.height, info.width)
    accept?.()
  })
  // Passed on with the shell or exec request: the host accepts LANG and LC_* and refuses the rest.
  const env: Record<string, string> = {}
  session.on('env', (accept, _reject, info) => {
    env[info.key] = info.val
    accept?.()
  })
  session.on('signal', (accept, _reject, info) => {
    remote?.signal(info.name)
    accept?.()
  })
  // A refusal reaches the local client as "rescue: why" on stderr and its exit code (15 the end
  // user, 17 policy, 14 the session ended): see refusalFromStatus.
  const refuse = (local: ServerChannel, error: unknown) => {
    const known = error instanceof UserError ? error : undefined
    const why = known ? sanitizeForTerminal(known.message, 300) : 'refused by the gateway'
    local.stderr.write(`rescue: ${why}\r\n`)
    local.exit(known?.exitCode ?? ExitCode.denied)
    local.end()
  }
  const connect =
    (local: ServerChannel, permission: Permission) => (error: Error | undefined, channel: ClientChannel) => {
      if (error) return void explain(permission).then((why) => refuse(local, why))
      remote = channel
      join(local, channel)
    }
  // The gateway first: what the technician's groups deny is never even asked of the end user.
  const gated = (local: ServerChannel, permissions: Permission[], ask: () => void) =>
    check(permissions).then(ask, (error: unknown) => refuse(local, error))
  // Each local request is accepted at once and joined to its upstream twin once the end user allows
  // it (a refusal becomes its reason and exit status): OpenSSH sends EOF right after `exec` when
  // stdin is empty, and ssh2 cannot accept a request after its session has seen EOF. Until the join,
  // local input waits in the stream.
  session.on('shell', (accept) => {
    const local = accept()
    if (local)
      void gated(local, ['shell'], () => upstream.shell(pty ?? false, { env }, connect(local, 'shell')))
  })
  session.on('exec', (accept, _reject, info) => {
    const local = accept()
    if (local)
      void gated(local, ['exec'], () =>
        upstream.exec(info.command, pty ? { pty, env } : { env }, connect(local, 'exec')),
      )
  })
  // rescue's own subsystems (chat, sysinfo) are answered only once the end user's side has: a chat
  // is then open at both ends when the technician is told so; a refusal is accepted locally to say
  // why. sftp is accepted at once like exec, since OpenSSH's sftp and scp send their first packet
  // without waiting for the answer.
  session.on('subsystem', (accept, reject, info) => {
    const permissions = subsystemPermissions[info.name] ?? []
    if (info.name === 'sftp') {
      const local = accept()
      if (local)
        void gated(local, permissions, () => upstream.subsys(info.name, connect(local, 'files.browse')))
      return
    }
    const refuseLocally = (error: unknown) => {
      const local = accept()
      if (local) refuse(local, error)
      else reject?.()
    }
    check(permissions).then(
      () =>
        upstream.subsys(info.name, (error, channel) => {
          const asked = permissions[0]
          if (error) return void (asked ? explain(asked).then(refuseLocally) : reject?.())
          const local = accept()
          if (!local) return channel.close()
          remote = channel
          join(local, channel)
        }),
      refuseLocally,
    )
  })
}

/** Pipes a local channel and its upstream twin together, carrying the exit status back. */
function join(local: ServerChannel, remote: ClientChannel): void {
  local.pipe(remote)
  remote.pipe(local, { end: false })
  remote.stderr.pipe(local.stderr, { end: false })
  let exited = false
  remote.on('exit', (code: number | null, signal?: string, dumped?: boolean, message?: string) => {
    exited = true
    if (local.destroyed) return
    if (code !== null && code !== undefined) local.exit(code)
    else if (signal) local.exit(signal.replace(/^SIG/, ''), dumped ?? false, message ?? '')
  })
  remote.on('close', () => {
    if (local.destroyed) return
    // A subsystem (sftp) that ended cleanly sends no status; OpenSSH's scp counts that as failure.
    if (!exited) local.exit(0)
    local.end()
    local.close()
  })
  local.on('close', () => remote.close())
}
