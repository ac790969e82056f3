/**
 * Recordings of shells (issue 11): a recorded shell, sealed to the organisation's key at the
 * gateway, opened with the private key, played by the real asciinema, verified against the host's
 * signed checkpoints; and forced recording failing closed, on both sides, saying why.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CliWorld, onlyJson, type CliProcess, type JsonLine } from './cli.js'

const ADMIN = {
  email: 'rita@acme.example',
  password: 'a long and winding passphrase',
  name: 'Rita Moreno',
  organisation: 'Acme IT',
}

let world: CliWorld
let url: string
let dataDir: string
let trust: string[]
let keyFile: string

beforeAll(async () => {
  world = new CliWorld()
  const gateway = await world.startServer()
  url = gateway.url
  dataDir = gateway.dataDir
  await world.initAdmin(dataDir, ADMIN)
  await world.login(url, ADMIN)
  trust = await world.trustOrganisation(ADMIN.email)
  keyFile = path.join(world.dir('keys'), 'private.key')
  world.check(await world.run(['admin', 'recordings', 'key', 'init', '-o', keyFile]))
  world.check(await world.run(['admin', 'groups', 'set', 'admins', '--recording', 'required']))
}, 60_000)

afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

const endUserEnv = () => ({ HOME: world.dir('home'), SHELL: '/bin/sh' })
const named = (host: CliProcess, name: string): JsonLine[] =>
  host.events.filter((line) => line.event === name)

async function recordedShell(env: Record<string, string> = {}, ...connectFlags: string[]) {
  const { pin } = await world.newPin()
  const host = world.track(
    world.spawn(
      'host',
      ['host', '--server', url, '--pin', pin, '--json', '--auto-approve', 'shell', ...trust],
      {
        env: endUserEnv(),
      },
    ),
  )
  await host.waitForEvent('waiting')
  const technician = world.track(
    await world.spawnPty('connect', ['connect', '--pin', pin, ...connectFlags], { cols: 100, rows: 30, env }),
  )
  return { host, technician }
}

/** Every byte the gateway keeps, database and all. */
function gatewayBytes(): Buffer {
  return Buffer.concat(
    fs.readdirSync(dataDir).map((name) => {
      const file = path.join(dataDir, name)
      return fs.statSync(file).isFile() ? fs.readFileSync(file) : Buffer.alloc(0)
    }),
  )
}

describe('a shell recorded because the policy requires it', () => {
  it('is sealed at the gateway, opens with the key, plays in asciinema and verifies; a change, a removal or a cut end fails', async () => {
    const localDir = world.dir('local')
    const { host, technician } = await recordedShell({}, '--record', localDir)
    await host.waitForEvent('channel-open', undefined, (line) => line.kind === 'shell')
    const from = technician.mark()
    technician.write('echo REC$((6*7))MARK\r')
    await technician.waitFor('REC42MARK', { from })
    technician.write('exit\r')
    expect((await technician.waitForExit()).exitCode).toBe(0)
    await host.waitForExit()
    expect(technician.output).toMatch(/recording this shell \(sealed to your organisation's recording key/)

    // The end user was told, and their audit log keeps it.
    expect(named(host, 'recording')[0]).toMatchObject({ state: 'started', required: true })
    const log = world.check(await world.run(['log', '--json']))
    expect(log.stdout).toContain('"event":"recording"')

    const { recordings } = onlyJson(world.check(await world.run(['recordings', 'list', '--json']))) as {
      recordings: { id: string; kind: string; complete: boolean; sessionId: string }[]
    }
    expect(recordings).toHaveLength(1)
    expect(recordings[0]).toMatchObject({ kind: 'shell', complete: true })
    // The gateway keeps what it cannot read.
    expect(gatewayBytes().includes('REC42MARK')).toBe(false)

    const out = path.join(world.dir('out'), 'shell.cast')
    world.check(await world.run(['recordings', 'get', recordings[0]!.id, '--key', keyFile, '-o', out]))
    const cast = fs.readFileSync(out, 'utf8')
    expect(cast).toContain('REC42MARK')

    // The real asciinema prints what the shell printed (it reads /dev/tty: give it a terminal).
    const nodePty = await import('@lydell/node-pty')
    const player = nodePty.spawn('asciinema', ['cat', out], {
      cols: 100,
      rows: 30,
      env: process.env as Record<string, string>,
    })
    let played = ''
    player.onData((data) => (played += data))
    const status = await new Promise<number>((resolve) => player.onExit(({ exitCode }) => resolve(exitCode)))
    expect(status).toBe(0)
    expect(played).toContain('REC42MARK')

    expect(world.check(await world.run(['recordings', 'verify', out])).stdout).toMatch(
      /matches what the host sent/,
    )
    const local = fs.readdirSync(localDir).filter((name) => name.endsWith('.cast'))
    expect(local).toHaveLength(1)
    world.check(await world.run(['recordings', 'verify', path.join(localDir, local[0]!)]))

    const broken = (name: string, text: string) => {
      const file = path.join(path.dirname(out), name)
      fs.writeFileSync(file, text)
      return world.run(['recordings', 'verify', file])
    }
    const lines = cast.split('\n').slice(0, -1)
    const output = lines.findIndex((line) => line.includes('REC42MARK') && line.includes('"o"'))
    const changed = await broken('changed.cast', cast.replace(/REC42MARK(?=[^\n]*\\r\\n)/, 'REC43MARK'))
    expect(changed.exitCode).toBe(1)
    expect(changed.stderr).toMatch(/is not what the host sent: .*differ/)
    const removed = await broken(
      'removed.cast',
      [...lines.slice(0, output), ...lines.slice(output + 1), ''].join('\n'),
    )
    expect(removed.exitCode).toBe(1)
    const cut = await broken('cut.cast', [...lines.slice(0, -1), ''].join('\n'))
    expect(cut.exitCode).toBe(1)
    expect(cut.stderr).toMatch(/final checkpoint|no checkpoint from the host/)
  })
})

describe('a shell recorded with keystrokes (required-input)', () => {
  it('has the input as "i" events, and the host signed them too', async () => {
    world.check(await world.run(['admin', 'groups', 'set', 'admins', '--recording', 'required-input']))
    try {
      const localDir = world.dir('input')
      const { host, technician } = await recordedShell({}, '--record', localDir)
      await host.waitForEvent('channel-open', undefined, (line) => line.kind === 'shell')
      const from = technician.mark()
      technician.write('echo KEY$((3*3))\r')
      await technician.waitFor('KEY9', { from })
      technician.write('exit\r')
      await technician.waitForExit()
      const [file] = fs.readdirSync(localDir)
      const cast = fs.readFileSync(path.join(localDir, file!), 'utf8')
      expect(cast).toMatch(/"i","echo KEY/)
      expect(JSON.parse(cast.split('\n')[0]!)).toMatchObject({ rescue: { input: true } })
      world.check(await world.run(['recordings', 'verify', path.join(localDir, file!)]))
    } finally {
      world.check(await world.run(['admin', 'groups', 'set', 'admins', '--recording', 'required']))
    }
  })
})

describe('a recorded command', () => {
  it('keeps stdout and stderr, and verifies', async () => {
    const { pin } = await world.newPin()
    const host = world.track(
      world.spawn(
        'host',
        ['host', '--server', url, '--pin', pin, '--json', '--auto-approve', 'exec', ...trust],
        {
          env: endUserEnv(),
        },
      ),
    )
    await host.waitForEvent('waiting')
    const localDir = world.dir('exec')
    const technician = world.track(
      world.spawn('connect', [
        'connect',
        '--pin',
        pin,
        '--record',
        localDir,
        '--exec',
        'echo OUT$((1+1)); echo ERR$((2+2)) >&2',
      ]),
    )
    expect((await technician.waitForExit()).exitCode).toBe(0)
    expect(technician.stdout).toBe('OUT2\n')
    const [file] = fs.readdirSync(localDir)
    const cast = fs.readFileSync(path.join(localDir, file!), 'utf8')
    expect(cast).toContain('"o","OUT2\\n"')
    expect(cast).toContain('"e","ERR4\\n"')
    world.check(await world.run(['recordings', 'verify', path.join(localDir, file!)]))
  })
})

describe('forced recording fails closed', () => {
  it('a local folder that cannot be written: no shell is opened, and the technician is told why', async () => {
    const notAFolder = path.join(world.dir('file'), 'plain-file')
    fs.writeFileSync(notAFolder, '')
    const { host, technician } = await recordedShell({}, '--record', path.join(notAFolder, 'inside'))
    await technician.waitFor(/the recording cannot be written to .*plain-file/)
    technician.write('q\r')
    await technician.waitForExit()
    expect(named(host, 'channel-open')).toEqual([])
  })

  it('an upload the gateway refuses closes the shell, and both sides say why', async () => {
    const { host, technician } = await recordedShell({ RESCUE_RECORDING_UPLOAD_MS: '300' })
    await host.waitForEvent('channel-open', undefined, (line) => line.kind === 'shell')
    // A new key: uploads sealed to the old one are refused from now on.
    world.check(
      await world.run(['admin', 'recordings', 'key', 'init', '-o', path.join(world.dir('keys'), 'new.key')]),
    )
    await technician.waitFor(
      /the recording stopped: the gateway did not take the recording: .*current recording key/,
    )
    const stopped = await host.waitForEvent('recording', undefined, (line) => line.state === 'stopped')
    expect(stopped.reason).toMatch(/current recording key/)
    await host.waitForEvent('channel-close', undefined, (line) => line.kind === 'shell')
    technician.write('q\r')
    await technician.waitForExit()
  })
})

describe('bad input', () => {
  it('a wrong key, a missing recording and a malformed file: a clear error and nothing written', async () => {
    const { recordings } = onlyJson(world.check(await world.run(['recordings', 'list', '--json']))) as {
      recordings: { id: string }[]
    }
    const outDir = world.dir('bad')
    const wrongKey = path.join(outDir, 'wrong.key')
    fs.writeFileSync(
      wrongKey,
      '{"type":"rescue-recording-key","publicKey":"AAAA","secretKey":"' +
        Buffer.alloc(32).toString('base64') +
        '"}',
    )
    const wrong = await world.run([
      'recordings',
      'get',
      recordings[0]!.id,
      '--key',
      wrongKey,
      '-o',
      path.join(outDir, 'x.cast'),
    ])
    expect(wrong.exitCode).toBe(2)
    expect(wrong.stderr).toMatch(/sealed to another key/)
    const missing = await world.run([
      'recordings',
      'get',
      'a'.repeat(26),
      '--key',
      keyFile,
      '-o',
      path.join(outDir, 'y.cast'),
    ])
    expect(missing.stderr).toMatch(/there is no recording/)
    fs.writeFileSync(path.join(outDir, 'bad.cast'), '{"version":2,"width":80,"height":24}\n[0.1,"o",')
    const malformed = await world.run(['recordings', 'verify', path.join(outDir, 'bad.cast')])
    expect(malformed.exitCode).toBe(1)
    expect(malformed.stderr).toMatch(/line 2 is cut short/)
    expect(fs.readdirSync(outDir).sort()).toEqual(['bad.cast', 'wrong.key'])
  })
})
