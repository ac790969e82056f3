/**
 * OpenSSH as the benches' reference: a private sshd on 127.0.0.1, run as the current user with its
 * own host key and client key, and the options that make ssh and scp use only those.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { commandVersion, freePort, sleep, track, UsageError } from './lib.js'

export const SSHD = '/usr/sbin/sshd'

export interface Sshd {
  child: ChildProcess
  port: number
  clientKey: string
  /** sshd's own version, e.g. OpenSSH_9.2p1. */
  version: string
}

/** Stops with the package to install when sshd or one of `tools` (ssh, scp, ssh-keygen...) is missing. */
export function requireOpenSsh(tools: string[]): void {
  if (!fs.existsSync(SSHD)) {
    throw new UsageError(
      `${SSHD} not found: install openssh-server (Debian/Ubuntu: sudo apt-get install -y openssh-server)`,
    )
  }
  for (const tool of tools) {
    // Any answer will do (scp has no -V): only a tool that cannot be spawned is missing.
    if (spawnSync(tool, ['-V'], { timeout: 5000 }).error)
      throw new UsageError(`${tool} not found: install openssh-client`)
  }
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
async function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${what} exited before listening`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port })
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} to listen`)
    await sleep(20)
  }
}

/**
 * Starts `sshd -D` on 127.0.0.1 and a free port with fresh ed25519 keys made in `dir`; remote
 * sessions get HOME=`home`. It serves SFTP in-process (internal-sftp), which scp uses since 9.0.
 */
export async function startSshd(dir: string, home: string): Promise<Sshd> {
  const hostKey = path.join(dir, 'host_ed25519')
  const clientKey = path.join(dir, 'client_ed25519')
  for (const key of [hostKey, clientKey]) {
    const keygen = spawnSync(
      'ssh-keygen',
      ['-q', '-t', 'ed25519', '-N', '', '-C', 'rescue-bench', '-f', key],
      {
        encoding: 'utf8',
        timeout: 10_000,
      },
    )
    if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr || keygen.error?.message}`)
  }
  const authorizedKeys = path.join(dir, 'authorized_keys')
  fs.copyFileSync(`${clientKey}.pub`, authorizedKeys)
  const isRoot = process.getuid?.() === 0
  // sshd refuses to start as root without its privilege separation directory; make it if missing.
  // It stays afterwards (an empty directory, as openssh-server's package makes it): removing it
  // broke the sshd of a bench or test running at the same time.
  if (isRoot && !fs.existsSync('/run/sshd')) fs.mkdirSync('/run/sshd', { mode: 0o755 })
  const config = path.join(dir, 'sshd_config')
  fs.writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'PidFile none',
      'UsePAM no',
      'StrictModes no',
      ...(isRoot ? ['PermitRootLogin prohibit-password'] : []),
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      // bash sources ~/.bashrc even for `ssh host true`; rescue's `bash -c` does not. An empty HOME
      // keeps the user's rc files (pyenv, nvm, ...) out of both tools' remote shells.
      `SetEnv HOME=${home}`,
      // No path to find: the SFTP server built into sshd, in the session's own process.
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  )
  const port = await freePort()
  const sshd = track(
    spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] }),
  )
  let stderr = ''
  sshd.stderr!.on('data', (data: Buffer) => (stderr += data.toString('utf8')))
  try {
    await waitForPort(port, sshd, 'sshd')
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}: ${stderr.trim()}`)
  }
  return {
    child: sshd,
    port,
    clientKey,
    version: commandVersion(SSHD, ['-V'], /(OpenSSH_[^,\s]+)/) ?? 'unknown',
  }
}

/**
 * Options for ssh and scp (the port aside: ssh spells it -p, scp -P): no user or system config
 * (no ControlMaster), only the temp key, no host key checking, no prompts.
 */
export function sshOptions(sshd: Sshd): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    sshd.clientKey,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
  ]
}

/** ssh's arguments before the destination, to the sshd or to a hop in front of it on `port`. */
export function sshArgs(sshd: Sshd, port: number): string[] {
  return ['-p', String(port), ...sshOptions(sshd)]
}
