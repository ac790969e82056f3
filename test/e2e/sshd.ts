/**
 * A private OpenSSH sshd on 127.0.0.1 for the differential tests: run as the current user on a free
 * port with its own config, host key and client key (made in `dir`), sshd's default `AcceptEnv LANG
 * LC_*`, and its built-in SFTP server. Nothing of the machine's own sshd configuration is read.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

export const SSHD = '/usr/sbin/sshd'

export interface PrivateSshd {
  port: number
  /** The client's private key (ed25519, OpenSSH format, no passphrase). */
  clientKey: string
  user: string
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited before listening: ${stderr()}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port })
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    if (Date.now() > deadline) throw new Error(`sshd did not listen within 10 s: ${stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export async function startPrivateSshd(dir: string): Promise<PrivateSshd> {
  const hostKey = path.join(dir, 'host_ed25519')
  const clientKey = path.join(dir, 'client_ed25519')
  for (const key of [hostKey, clientKey]) {
    const made = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'differential', '-f', key])
    if (made.status !== 0) throw new Error(`ssh-keygen failed: ${made.stderr?.toString()}`)
  }
  const authorizedKeys = path.join(dir, 'authorized_keys')
  fs.copyFileSync(`${clientKey}.pub`, authorizedKeys)
  const isRoot = process.getuid?.() === 0
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
      // Debian's default sshd_config: the locale travels, nothing else does.
      'AcceptEnv LANG LC_*',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  )
  const port = await freePort()
  const child = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString('utf8')))
  await waitForPort(port, child, () => stderr)
  return {
    port,
    clientKey,
    user: os.userInfo().username,
    async stop() {
      if (child.exitCode !== null) return
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await gone
    },
  }
}
