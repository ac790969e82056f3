/**
 * `rescue connect --listen`: the real OpenSSH client tools (ssh, scp, rsync) through the session,
 * each request behind the end user's consent, with the built CLI as separate processes.
 */
import { execa } from 'execa'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CliWorld, type CliProcess, type JsonLine } from './cli.js'

const ADMIN = {
  email: 'erin@acme.example',
  password: 'a long and winding passphrase',
  name: 'Erin Ng',
  organisation: 'Acme IT',
}

let world: CliWorld
let url: string

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
})
afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

/** A host that pre-approves `permissions`, and a technician serving the session on a free port. */
async function listening(permissions: string) {
  const { pin } = await world.newPin()
  const env = { HOME: world.dir('home'), SHELL: '/bin/sh' }
  const host = world.spawn(
    'host',
    ['host', '--server', url, '--pin', pin, '--json', '--auto-approve', permissions, '--trust-gateway'],
    {
      env,
    },
  )
  world.track(host)
  await host.waitForEvent('waiting')
  const technician = world.spawn('connect', ['connect', '--pin', pin, '--listen', '0', '--json'])
  world.track(technician)
  const ready = await technician.waitForEvent('listening')
  const ssh = (ready.ssh as string).split(' ')
  // `ssh -p PORT -i KEY -o ... rescue@127.0.0.1`: the options, without the program and destination.
  const sshOptions = ssh.slice(1, -1)
  return { host, technician, sshOptions, port: ready.port as number }
}

const hostEvents = (host: CliProcess, name: string): JsonLine[] => host.events.filter((e) => e.event === name)

describe('OpenSSH tools through rescue connect --listen', () => {
  it('ssh runs a command with its exit status, and the end user consented to it', async () => {
    const { host, sshOptions } = await listening('exec')
    const result = await execa('ssh', [...sshOptions, 'rescue@127.0.0.1', 'echo ok; exit 4'], {
      reject: false,
      timeout: 15_000,
    })
    expect(result.stdout).toBe('ok')
    expect(result.exitCode).toBe(4)
    expect(hostEvents(host, 'consent-decision')).toContainEqual(
      expect.objectContaining({ permission: 'exec', decision: 'once' }),
    )
  })

  it('scp copies a file to the end user and back with the same bytes, each transfer logged with its SHA-256', async () => {
    const { host, sshOptions } = await listening('files.send,files.receive,files.browse')
    const scpOptions = sshOptions.map((option) => (option === '-p' ? '-P' : option))
    const local = path.join(world.dir('files'), 'payload.bin')
    const bytes = crypto.randomBytes(3 * 1024 * 1024)
    fs.writeFileSync(local, bytes)
    const remote = path.join(world.dir('remote'), 'payload.bin')
    const back = path.join(world.dir('back'), 'payload.bin')
    const put = await execa('scp', [...scpOptions, local, `rescue@127.0.0.1:${remote}`], {
      reject: false,
      timeout: 20_000,
    })
    expect(put.exitCode, put.stderr).toBe(0)
    const get = await execa('scp', [...scpOptions, `rescue@127.0.0.1:${remote}`, back], {
      reject: false,
      timeout: 20_000,
    })
    expect(get.exitCode, get.stderr).toBe(0)
    expect(fs.readFileSync(back).equals(bytes)).toBe(true)
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex')
    await host.waitForEvent('file-transfer', 10_000, (e) => e.direction === 'from-host')
    expect(hostEvents(host, 'file-transfer')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ direction: 'to-host', path: remote, sha256, complete: true }),
        expect.objectContaining({ direction: 'from-host', path: remote, sha256, complete: true }),
      ]),
    )
  })

  it('scp -p keeps the mode and times of what it sent with files.send alone; deleting needs files.modify', async () => {
    const { host, sshOptions } = await listening('files.send,files.browse')
    const scpOptions = sshOptions.map((option) => (option === '-p' ? '-P' : option))
    const local = path.join(world.dir('preserve'), 'tool.sh')
    fs.writeFileSync(local, 'echo hi\n')
    fs.chmodSync(local, 0o750)
    fs.utimesSync(local, 1_000_000, 1_500_000)
    const remote = path.join(world.dir('preserve-remote'), 'tool.sh')
    const put = await execa('scp', ['-p', ...scpOptions, local, `rescue@127.0.0.1:${remote}`], {
      reject: false,
      timeout: 20_000,
    })
    expect(put.exitCode, put.stderr).toBe(0)
    expect(fs.statSync(remote).mode & 0o777).toBe(0o750)
    expect(Math.round(fs.statSync(remote).mtimeMs / 1000)).toBe(1_500_000)
    // The end user allowed putting it there: its mode and times were part of that, not a change.
    expect(hostEvents(host, 'consent-request').map((e) => e.permission)).not.toContain('files.modify')

    // Browsing and sending do not let sftp delete: the file stays.
    const sftp = await execa('sftp', ['-b', '-', ...scpOptions, 'rescue@127.0.0.1'], {
      input: `rm ${remote}\n`,
      reject: false,
      timeout: 20_000,
    })
    expect(sftp.exitCode).not.toBe(0)
    expect(fs.existsSync(remote)).toBe(true)
    expect(hostEvents(host, 'consent-decision')).toContainEqual(
      expect.objectContaining({ permission: 'files.modify', decision: 'deny', by: 'no-terminal' }),
    )
  })

  it('a refusal reaches the OpenSSH client as a failure, and nothing runs', async () => {
    const { host, sshOptions } = await listening('files.browse')
    const marker = path.join(world.dir('refused'), 'ran')
    const result = await execa('ssh', [...sshOptions, 'rescue@127.0.0.1', `touch ${marker}`], {
      reject: false,
      timeout: 15_000,
    })
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toContain("rescue: no one is at the host's terminal to allow the command")
    expect(fs.existsSync(marker)).toBe(false)
    expect(hostEvents(host, 'consent-decision')).toContainEqual(
      expect.objectContaining({ permission: 'exec', decision: 'deny', by: 'no-terminal' }),
    )
  })

  it('rsync copies a directory tree to the end user', async () => {
    const { sshOptions } = await listening('exec')
    const tree = world.dir('tree')
    fs.mkdirSync(path.join(tree, 'a', 'b'), { recursive: true })
    fs.writeFileSync(path.join(tree, 'a', 'one.txt'), 'one\n')
    fs.writeFileSync(path.join(tree, 'a', 'b', 'two.txt'), 'two\n')
    const target = path.join(world.dir('tree-copy'), 'copy')
    const result = await execa(
      'rsync',
      ['-a', '-e', `ssh ${sshOptions.join(' ')}`, `${tree}/`, `rescue@127.0.0.1:${target}/`],
      { reject: false, timeout: 20_000 },
    )
    expect(result.exitCode, result.stderr).toBe(0)
    expect(fs.readFileSync(path.join(target, 'a', 'b', 'two.txt'), 'utf8')).toBe('two\n')
  })
})
