/**
 * `rescue send` and `rescue get` through a live session, with the built CLI as separate
 * processes: a host, a technician holding the session, and the transfer commands reaching it
 * through its control socket. Hashes are checked here with node:crypto, independently of rescue.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, confirmWords, jsonLines, waitUntil } from './cli.js'

const ADMIN = {
  email: 'gus@acme.example',
  password: 'a long and winding passphrase',
  name: 'Gus Lind',
  organisation: 'Acme IT',
}
const MiB = 1024 * 1024

let world: CliWorld
let url: string
let runtime: Record<string, string>

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
  const dir = world.dir('runtime')
  fs.chmodSync(dir, 0o700)
  runtime = { XDG_RUNTIME_DIR: dir }
})
afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

interface TransferJson {
  direction: 'send' | 'get'
  bytes: number
  seconds: number
  sha256?: string
  files: { local: string; remote: string; bytes: number; sha256: string; resumedFrom: number }[]
}

/** A host (its home and audit log in fresh folders) and a technician holding the session. */
function liveSession(...flags: string[]) {
  return world.liveSession(url, runtime.XDG_RUNTIME_DIR!, ...flags)
}

function sha256Of(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex')
}

/** A file of `size` random bytes in a fresh folder. */
function randomFile(name: string, size: number): string {
  const file = path.join(world.dir(`local-${name}-${size}`), name)
  const handle = fs.openSync(file, 'w')
  for (let written = 0; written < size; written += MiB) {
    fs.writeSync(handle, randomBytes(Math.min(MiB, size - written)))
  }
  fs.closeSync(handle)
  return file
}

function auditEntries(auditLog: string): Record<string, unknown>[] {
  return jsonLines(fs.readFileSync(auditLog, 'utf8'))
}

/** Every file under `root`, relative, with its SHA-256. */
function treeHashes(root: string): Record<string, string> {
  const hashes: Record<string, string> = {}
  for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const full = path.join(entry.parentPath, entry.name)
    hashes[path.relative(root, full)] = sha256Of(full)
  }
  return hashes
}

describe('rescue send and rescue get', () => {
  it('a 100 MiB file goes to the host and comes back with the same SHA-256, logged with name, size and hash', async () => {
    const { home, auditLog, host } = await liveSession('--auto-approve', 'files.send,files.receive')
    const local = randomFile('big.bin', 100 * MiB)
    const expected = sha256Of(local)

    const sent = await world.run(['send', '--json', local, 'incoming/'], { env: runtime, timeoutMs: 120_000 })
    expect(sent.exitCode, sent.stderr).toBe(1)
    // No such folder yet on the host: the error says so. Make it and send again.
    fs.mkdirSync(path.join(home, 'incoming'))
    const again = await world.run(['send', '--json', local, 'incoming/'], {
      env: runtime,
      timeoutMs: 120_000,
    })
    expect(again.exitCode, again.stderr).toBe(0)
    const report = JSON.parse(again.stdout) as TransferJson
    expect(report).toMatchObject({ direction: 'send', bytes: 100 * MiB, sha256: expected })
    expect(report.seconds).toBeGreaterThan(0)
    const onHost = path.join(home, 'incoming', 'big.bin')
    expect(sha256Of(onHost)).toBe(expected)
    expect(fs.readdirSync(path.join(home, 'incoming'))).toEqual(['big.bin'])

    const back = path.join(world.dir('back'), 'big-again.bin')
    const got = await world.run(['get', '--json', 'incoming/big.bin', back], {
      env: runtime,
      timeoutMs: 120_000,
    })
    expect(got.exitCode, got.stderr).toBe(0)
    expect(JSON.parse(got.stdout)).toMatchObject({ direction: 'get', bytes: 100 * MiB, sha256: expected })
    expect(sha256Of(back)).toBe(expected)
    expect(fs.readdirSync(path.dirname(back))).toEqual(['big-again.bin'])

    const transfers = auditEntries(auditLog).filter((entry) => entry.event === 'file-transfer')
    expect(transfers).toContainEqual(
      expect.objectContaining({
        direction: 'to-host',
        path: onHost,
        bytes: 100 * MiB,
        sha256: expected,
        complete: true,
      }),
    )
    expect(transfers).toContainEqual(
      expect.objectContaining({
        direction: 'from-host',
        path: onHost,
        bytes: 100 * MiB,
        sha256: expected,
        complete: true,
      }),
    )
    // The end user saw the file on its way.
    expect(host.events.some((event) => event.event === 'file-progress')).toBe(true)
  })

  it('a folder tree goes both ways after one "allow once" each; every file inside goes unasked, with its hash', async () => {
    const { pin } = await world.newPin()
    const home = world.dir('home-tree')
    const state = world.dir('tree-state')
    const host = await world.spawnPty('host', ['host', '--server', url, '--pin', pin], {
      cols: 160,
      rows: 45,
      env: { HOME: home, SHELL: '/bin/sh', XDG_STATE_HOME: state },
    })
    const technician = world.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json'], {
      env: runtime,
    })
    world.track(technician)
    const tree = path.join(world.dir('tree'), 'tree-src')
    fs.mkdirSync(path.join(tree, 'logs', 'old'), { recursive: true })
    fs.mkdirSync(path.join(tree, 'empty'))
    fs.writeFileSync(path.join(tree, 'README'), 'read me\n')
    fs.writeFileSync(path.join(tree, 'logs', 'today.log'), randomBytes(300_000))
    fs.writeFileSync(path.join(tree, 'logs', 'old', 'last-week.log'), randomBytes(70_000))
    fs.writeFileSync(path.join(tree, 'logs', 'zero'), '')
    try {
      await confirmWords(host)
      const paired = await technician.waitForEvent('paired')
      await waitUntil(() =>
        fs.existsSync(path.join(runtime.XDG_RUNTIME_DIR!, 'rescue', `${paired.sessionId as string}.sock`)),
      )
      const send = world.spawn('send', ['send', '-r', '--json', tree, `${home}/`], { env: runtime })
      await host.waitFor('put a folder on this computer: tree-src (4 files, 361.3 KiB)')
      await new Promise((resolve) => setTimeout(resolve, 500))
      host.write('a')
      const sent = await send.waitForExit()
      expect(sent.exitCode, send.stderr).toBe(0)
      const onHost = path.join(home, 'tree-src')
      expect(treeHashes(onHost)).toEqual(treeHashes(tree))
      expect(fs.statSync(path.join(onHost, 'empty')).isDirectory()).toBe(true)
      const report = JSON.parse(send.stdout) as TransferJson
      expect(report.files).toHaveLength(4)
      for (const file of report.files) expect(file.sha256).toBe(sha256Of(file.local))

      const copy = path.join(world.dir('tree-back'), 'copy')
      const get = world.spawn('get', ['get', '-r', 'tree-src', copy], { env: runtime })
      await host.waitFor(
        'copy a folder and everything in it from this computer: tree-src (4 files, 361.3 KiB)',
      )
      await new Promise((resolve) => setTimeout(resolve, 500))
      host.write('a')
      expect((await get.waitForExit()).exitCode, get.stderr).toBe(0)
      expect(treeHashes(copy)).toEqual(treeHashes(tree))
    } finally {
      await host.stop()
    }
    // The end user answered twice; everything else in each tree went through on that answer.
    const decisions = auditEntries(path.join(state, 'rescue', 'audit.jsonl')).filter(
      (entry) => entry.event === 'consent-decision',
    )
    expect(decisions.filter((entry) => entry.by === 'end-user')).toEqual([
      expect.objectContaining({ permission: 'files.send', decision: 'once' }),
      expect.objectContaining({ permission: 'files.receive', decision: 'once' }),
    ])
    expect(decisions.length).toBeGreaterThan(8)
    for (const entry of decisions.filter((entry) => entry.by !== 'end-user')) {
      expect(entry).toMatchObject({ by: 'transfer-grant', decision: 'once' })
    }
  })

  it('a tree sent again with --resume skips each file it wrote with the same hash and sends the changed one; a file the end user had is sent again, its hash refused', async () => {
    const { home, host, auditLog } = await liveSession('--auto-approve', 'files.send')
    const tree = path.join(world.dir('resume-tree'), 'notes')
    fs.mkdirSync(tree)
    fs.writeFileSync(path.join(tree, 'same.txt'), 'unchanged\n')
    fs.writeFileSync(path.join(tree, 'edited.txt'), 'version 1\n')
    const first = await world.run(['send', '-r', '--json', tree, `${home}/`], { env: runtime })
    expect(first.exitCode, first.stderr).toBe(0)
    // Same size, other bytes: only a hash tells them apart.
    fs.writeFileSync(path.join(tree, 'edited.txt'), 'version 2\n')
    // The end user's own file, byte for byte the one in the tree. The technician was not let read
    // it, so it may not learn that it matches (a hash is a read): it is sent again, as the
    // upload the end user allowed replaces it.
    const theirs = path.join(home, 'notes', 'theirs.txt')
    fs.writeFileSync(theirs, 'identical\n')
    fs.writeFileSync(path.join(tree, 'theirs.txt'), 'identical\n')
    const before = fs.statSync(theirs).ino
    const again = await world.run(['send', '-r', '--resume', '--json', tree, `${home}/`], { env: runtime })
    expect(again.exitCode, again.stderr).toBe(0)
    const files = (JSON.parse(again.stdout) as { files: { local: string; skipped?: boolean }[] }).files
    expect(files.map((file) => [path.basename(file.local), file.skipped === true])).toEqual([
      ['edited.txt', false],
      ['same.txt', true],
      ['theirs.txt', false],
    ])
    expect(fs.readFileSync(path.join(home, 'notes', 'edited.txt'), 'utf8')).toBe('version 2\n')
    expect(fs.readFileSync(theirs, 'utf8')).toBe('identical\n')
    // Replaced by the upload, not left in place on the strength of a hash.
    expect(fs.statSync(theirs).ino).not.toBe(before)
    const refusal = `the SHA-256 of ${theirs}: the end user did not let the technician read it`
    expect(host.events).toContainEqual(
      expect.objectContaining({ event: 'refused', request: expect.stringContaining(refusal) }),
    )
    expect(auditEntries(auditLog)).toContainEqual(
      expect.objectContaining({ event: 'refused', request: expect.stringContaining(refusal) }),
    )
  })

  it('a refused transfer exits 15, saying why, and nothing lands on the host', async () => {
    const { home, host } = await liveSession()
    const local = randomFile('fix.sh', 1234)
    const sent = await world.run(['send', local, '/tmp/'], { env: runtime })
    expect(sent.exitCode).toBe(ExitCode.denied)
    expect(sent.stderr).toContain("no one is at the host's terminal to allow sending files to this computer")
    const got = await world.run(['get', '/etc/hostname', world.dir('nothing')], { env: runtime })
    expect(got.exitCode).toBe(ExitCode.denied)
    expect(fs.readdirSync(world.dir('nothing'))).toEqual([])
    expect(fs.readdirSync(home)).toEqual([])
    const decisions = host.events.filter((event) => event.event === 'consent-decision')
    expect(decisions).toEqual([
      expect.objectContaining({ permission: 'files.send', decision: 'deny' }),
      expect.objectContaining({ permission: 'files.receive', decision: 'deny' }),
    ])
    const prompt = host.events.find((event) => event.event === 'consent-request')
    expect(prompt?.summary).toBe('put a file on this computer: fix.sh (1.2 KiB) into /tmp')
  })

  it('killed mid-transfer, send --resume finishes from the checked part with the right hash and no partial left', async () => {
    const { home } = await liveSession('--auto-approve', 'files.send,files.receive')
    const local = randomFile('image.iso', 200 * MiB)
    const partial = path.join(home, '.image.iso.rescue-partial')
    const first = world.spawn('send', ['send', local, 'image.iso'], { env: runtime })
    await waitUntil(() => fs.existsSync(partial) && fs.statSync(partial).size > 20 * MiB, 60_000)
    first.kill('SIGKILL')
    await first.waitForExit()
    // The host keeps what arrived for a resume, and nothing in place of the real file.
    await waitUntil(() => !fs.existsSync(path.join(home, 'image.iso')) && fs.existsSync(partial))
    const kept = fs.statSync(partial).size
    expect(kept).toBeLessThan(200 * MiB)

    const resumed = await world.run(['send', '--resume', '--json', local, 'image.iso'], {
      env: runtime,
      timeoutMs: 120_000,
    })
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    const report = JSON.parse(resumed.stdout) as TransferJson
    expect(report.files[0]!.resumedFrom, resumed.stderr).toBeGreaterThan(0)
    expect(report.sha256).toBe(sha256Of(local))
    expect(sha256Of(path.join(home, 'image.iso'))).toBe(sha256Of(local))
    expect(fs.readdirSync(home)).toEqual(['image.iso'])
  })

  it('killed mid-transfer, get --resume finishes from the checked part with the right hash and no partial left', async () => {
    const { home } = await liveSession('--auto-approve', 'files.send,files.receive')
    const source = path.join(home, 'dump.bin')
    fs.copyFileSync(randomFile('dump.bin', 200 * MiB), source)
    const here = world.dir('resume-get')
    const partial = path.join(here, '.dump.bin.rescue-partial')
    const first = world.spawn('get', ['get', 'dump.bin', here], { env: runtime })
    await waitUntil(() => fs.existsSync(partial) && fs.statSync(partial).size > 20 * MiB, 60_000)
    first.kill('SIGKILL')
    await first.waitForExit()

    const resumed = await world.run(['get', '--resume', '--json', 'dump.bin', here], {
      env: runtime,
      timeoutMs: 120_000,
    })
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    const report = JSON.parse(resumed.stdout) as TransferJson
    expect(report.files[0]!.resumedFrom).toBeGreaterThan(0)
    expect(sha256Of(path.join(here, 'dump.bin'))).toBe(sha256Of(source))
    expect(fs.readdirSync(here)).toEqual(['dump.bin'])
  })

  it('a partial whose bytes do not match is not trusted: the resume starts over and the file still matches', async () => {
    const { home } = await liveSession('--auto-approve', 'files.send')
    const local = randomFile('notes.txt', 3 * MiB)
    // Garbage where a partial would be: the same length as a real prefix, other bytes.
    fs.writeFileSync(path.join(home, '.notes.txt.rescue-partial'), randomBytes(MiB))
    const resumed = await world.run(['send', '--resume', '--json', local, 'notes.txt'], { env: runtime })
    expect(resumed.exitCode, resumed.stderr).toBe(0)
    expect((JSON.parse(resumed.stdout) as TransferJson).files[0]!.resumedFrom).toBe(0)
    expect(sha256Of(path.join(home, 'notes.txt'))).toBe(sha256Of(local))
    expect(fs.readdirSync(home)).toEqual(['notes.txt'])
  })

  it('a file name full of escape sequences is shown sanitized in the prompt and the audit log', async () => {
    const { host, auditLog } = await liveSession()
    const hostile = 'evil\u001b]0;pwned\u0007\u001b[2J\u202eexe.sh'
    const local = path.join(world.dir('hostile'), hostile)
    fs.writeFileSync(local, 'echo hi\n')
    const sent = await world.run(['send', local, '/tmp/'], { env: runtime })
    expect(sent.exitCode).toBe(ExitCode.denied)
    const prompt = host.events.find((event) => event.event === 'consent-request')
    const logged = auditEntries(auditLog).find((entry) => entry.event === 'consent-request')
    for (const text of [JSON.stringify(prompt), fs.readFileSync(auditLog, 'utf8')]) {
      for (const raw of ['\u001b', '\u0007', '\u202e']) expect(text).not.toContain(raw)
    }
    expect(prompt?.summary).toContain('evil\\x1b]0;pwned\\x07\\x1b[2J\\u202eexe.sh')
    expect(logged?.summary).toBe(prompt?.summary)
  })
})

describe('the end user answers file prompts at the terminal', () => {
  it('f allows sending into that folder for the session: a second file there goes unasked, one elsewhere is asked', async () => {
    const { pin } = await world.newPin()
    const home = world.dir('home-folder-grant')
    fs.mkdirSync(path.join(home, 'drop'))
    const host = await world.spawnPty('host', ['host', '--server', url, '--pin', pin], {
      cols: 140,
      rows: 45,
      env: { HOME: home, SHELL: '/bin/sh', XDG_STATE_HOME: world.dir('folder-state') },
    })
    const technician = world.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json'], {
      env: runtime,
    })
    world.track(technician)
    try {
      await confirmWords(host)
      await technician.waitForEvent('paired')
      await waitUntil(() => fs.readdirSync(path.join(runtime.XDG_RUNTIME_DIR!, 'rescue')).length > 0)
      const first = world.spawn('send', ['send', randomFile('one.txt', 10), 'drop/'], { env: runtime })
      await host.waitFor(`only in ${path.join(home, 'drop')}`)
      await new Promise((resolve) => setTimeout(resolve, 500))
      host.write('f')
      expect((await first.waitForExit()).exitCode).toBe(0)
      const second = await world.run(['send', randomFile('two.txt', 10), 'drop/'], { env: runtime })
      expect(second.exitCode, second.stderr).toBe(0)
      expect(fs.readdirSync(path.join(home, 'drop')).sort()).toEqual(['one.txt', 'two.txt'])
      await host.waitFor('granted for this session: send files to this computer, only in')

      const elsewhere = world.spawn('send', ['send', randomFile('three.txt', 10), 'three.txt'], {
        env: runtime,
      })
      await host.waitFor('three.txt (10 B) into')
      await new Promise((resolve) => setTimeout(resolve, 500))
      host.write('d')
      expect((await elsewhere.waitForExit()).exitCode).toBe(ExitCode.denied)
    } finally {
      await host.stop()
    }
  })
})
