/**
 * What a person sees of `rescue send` and `rescue get`, and of the end user's chat, with the built
 * CLI as separate processes: local mistakes caught before the end user is asked, a missing folder
 * on the host called one, speeds of the bytes moved once allowed, progress bars that fit a 60-column
 * terminal and are gone before an error, the host's prompt at 80x24 and 60x20 without a wrapped
 * countdown, and the end user's chat reaching `connect` and a later `rescue chat`. Screens are
 * played on a terminal emulator (@xterm/headless) and printed in the test's output.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { stripVTControlCharacters } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, confirmWords, jsonLines, waitUntil, type PtyProcess } from './cli.js'
import { printScreen, screenOf } from './screen.js'

const ADMIN = {
  email: 'ines@acme.example',
  password: 'a quiet harbour at dawn',
  name: 'Ines Roy',
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

function sha256Of(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex')
}

/** `rescue host` on a terminal of this size, its home in a fresh folder, and a technician holding the session. */
async function hostOnTerminal(cols: number, rows: number) {
  const { pin } = await world.newPin()
  const home = world.dir(`home-${pin}`)
  const host = world.track(
    await world.spawnPty('host', ['host', '--server', url, '--pin', pin], {
      cols,
      rows,
      env: { HOME: home, SHELL: '/bin/sh', XDG_STATE_HOME: world.dir(`state-${pin}`) },
    }),
  )
  await host.waitFor('waiting for your technician')
  // The end user confirms the security words as soon as they are asked.
  void confirmWords(host).catch(() => {})
  const technician = world.track(
    world.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json'], { env: runtime }),
  )
  const paired = await technician.waitForEvent('paired')
  await waitUntil(() =>
    fs.existsSync(path.join(runtime.XDG_RUNTIME_DIR!, 'rescue', `${paired.sessionId as string}.sock`)),
  )
  await host.waitFor('security words')
  return { host, technician, home }
}

/** The host's screen once a prompt is up: printed, and checked for a countdown and keys in one piece. */
async function promptScreen(host: PtyProcess, cols: number, rows: number, title: string) {
  await host.waitFor(/\(denies in \d+ s\)/)
  // Let Ink finish the frame it is drawing.
  await delay(200)
  const screen = await screenOf(host.rawOutput, cols, rows)
  printScreen(title, screen)
  expect(screen.wrapped, 'rows the terminal wrapped').toEqual([])
  expect(screen.lines.some((line) => /\(denies in \d+ s\)/.test(line))).toBe(true)
  expect(screen.lines.some((line) => /\(denies in\s*$/.test(line))).toBe(false)
  for (const key of ['[a] allow once', '[s] allow for this session', '[d] deny']) {
    expect(screen.lines.some((line) => line.includes(key))).toBe(true)
  }
  for (const line of screen.lines) expect(line.length).toBeLessThanOrEqual(cols)
  return screen
}

describe('the local side is checked before the end user is asked', () => {
  it('get into a missing or unwritable folder and send of a missing file fail at once, with no prompt on the host', async () => {
    const { host } = await world.liveSession(url, runtime.XDG_RUNTIME_DIR!)
    const cases = [
      { args: ['get', '/etc/hostname', './nodir/x'], says: 'no such folder here: ./nodir' },
      { args: ['get', '/etc/hostname', 'nodir/'], says: 'no such folder here: nodir' },
      { args: ['get', '/etc/hostname', '/proc/nope'], says: 'cannot write in /proc here' },
      { args: ['get', '-r', '/etc', '/proc/nope/etc', '--json'], says: 'cannot write in /proc here' },
      { args: ['send', './missing.txt', 'notes.txt'], says: 'no such file or folder here: ./missing.txt' },
    ]
    for (const { args, says } of cases) {
      const result = await world.run(args, { env: runtime })
      expect(result.exitCode, result.stderr).toBe(ExitCode.usage)
      expect(result.stderr + result.stdout).toContain(says)
      if (!args.includes('--json')) expect(result.stderr).toContain('Next:')
      expect(result.stderr).not.toMatch(/ENOENT|rescue-partial/)
    }
    expect(fs.existsSync(path.join(world.root, 'nodir'))).toBe(false)
    expect(fs.readdirSync('/proc').some((name) => name.startsWith('.rescue-probe'))).toBe(false)
    await delay(300)
    expect(host.events.filter((event) => event.event === 'consent-request')).toEqual([])
  })

  it('a missing folder on the host is "no such folder on the host", a missing file "no such file on the host"', async () => {
    const { home } = await world.liveSession(
      url,
      runtime.XDG_RUNTIME_DIR!,
      '--auto-approve',
      'files.send,files.receive',
    )
    fs.writeFileSync(path.join(home, 'there.txt'), 'here\n')
    const local = path.join(world.dir('ux-send'), 'note.txt')
    fs.writeFileSync(local, 'a note\n')
    const here = world.dir('ux-get')
    const cases = [
      { args: ['send', local, 'nodir/note.txt'], says: 'no such folder on the host: nodir' },
      { args: ['send', '-r', here, 'nodir/deeper/copy'], says: 'no such folder on the host: nodir/deeper' },
      { args: ['get', 'nodir/x.txt', `${here}/`], says: 'no such folder on the host: nodir' },
      { args: ['get', '-r', 'nodir', `${here}/`], says: 'no such folder on the host: nodir' },
      { args: ['get', 'missing.txt', `${here}/`], says: 'no such file on the host: missing.txt' },
    ]
    for (const { args, says } of cases) {
      const result = await world.run(args, { env: runtime })
      expect(result.exitCode, result.stderr).toBe(ExitCode.failure)
      expect(result.stderr).toContain(says)
    }
    const got = await world.run(['get', 'there.txt', `${here}/`], { env: runtime })
    expect(got.exitCode, got.stderr).toBe(0)
  })
})

describe('the host’s prompt, speeds after a resume, and the end user’s chat', () => {
  it('at 80x24 the prompt fits; a resumed get counts the bytes moved and not the wait for consent; chat reaches connect and rescue chat', async () => {
    const { host, technician, home } = await hostOnTerminal(80, 24)
    const remote = path.join(home, 'dump.bin')
    fs.writeFileSync(remote, randomBytes(8 * MiB))
    // What an earlier, interrupted get left: the first 5 MiB, under the partial name.
    const here = world.dir('resume-80')
    fs.writeFileSync(
      path.join(here, '.dump.bin.rescue-partial'),
      fs.readFileSync(remote).subarray(0, 5 * MiB),
    )

    const get = world.spawn('get', ['get', '--resume', 'dump.bin', `${here}/`], { env: runtime })
    await promptScreen(host, 80, 24, 'the host asked for a file, 80 columns')
    // The end user takes their time: none of it is the transfer's.
    await delay(2500)
    host.write('a')
    expect((await get.waitForExit(30_000)).exitCode, get.stderr).toBe(0)
    expect(sha256Of(path.join(here, 'dump.bin'))).toBe(sha256Of(remote))
    const said =
      /8\.0 MiB \(3\.0 MiB moved, 5\.0 MiB already there\) in ([\d.]+) s, ([\d.]+) (KiB|MiB|GiB)\/s/.exec(
        get.stdout,
      )
    expect(said, get.stdout).not.toBeNull()
    const seconds = Number(said![1])
    expect(seconds).toBeLessThan(2)
    const perSecond = Number(said![2]) * { KiB: 1024, MiB, GiB: 1024 * MiB }[said![3] as 'KiB']
    // The speed is 3 MiB over the time it took (formatSize rounds to a tenth), not 8 MiB, nor over 2.5 s.
    expect(perSecond).toBeGreaterThan((3 * MiB) / Math.max(seconds, 0.001) / 1.2)
    expect(perSecond).toBeLessThan((3 * MiB) / Math.max(seconds, 0.001) / 0.8)

    // No `rescue chat` is open: the end user's line shows on connect, not "not sent".
    const before = host.mark()
    host.write('c')
    await host.waitFor('chat>', { from: before })
    host.write('is it done yet?\r')
    const line = await technician.waitForEvent('chat')
    expect(line).toMatchObject({ event: 'chat', from: 'host', text: 'is it done yet?' })
    await delay(300)
    expect(host.output.slice(before)).not.toContain('not sent')

    // A later rescue chat opens with the session's chat so far, then its own line.
    const chat = await world.run(['chat', '--json', '--message', 'yes, all there'], { env: runtime })
    expect(chat.exitCode, chat.stderr).toBe(0)
    expect(jsonLines(chat.stdout)).toEqual([
      expect.objectContaining({ event: 'chat', from: 'host', text: 'is it done yet?', history: true }),
      expect.objectContaining({ event: 'chat', from: 'technician', text: 'yes, all there' }),
    ])
    await host.waitFor('yes, all there')
  })

  it('at 60x20 the prompt fits too; Ctrl-C before anything arrived offers no --resume', async () => {
    const { host } = await hostOnTerminal(60, 20)
    const local = path.join(world.dir('send-60'), 'notes.txt')
    fs.writeFileSync(local, 'notes\n')
    const send = world.spawn('send', ['send', local, 'notes.txt'], { env: runtime })
    await promptScreen(host, 60, 20, 'the host asked to receive a file, 60 columns')
    send.kill('SIGINT')
    await send.waitForExit()
    expect(send.stderr).toContain('interrupted')
    expect(send.stderr).not.toContain('--resume')
  })
})

describe('the progress bar in a 60-column terminal', () => {
  it('never makes a line longer than the terminal, and is erased before the end or an error', async () => {
    const { home } = await world.liveSession(url, runtime.XDG_RUNTIME_DIR!, '--auto-approve', 'files.receive')
    // Sparse: big enough to be watched for a while, made at once.
    const name = 'a-file-with-a-rather-long-name-for-sixty-columns.img'
    fs.writeFileSync(path.join(home, name), '')
    fs.truncateSync(path.join(home, name), 128 * MiB)

    const bars = (output: string) =>
      stripVTControlCharacters(output)
        .split(/[\r\n]/)
        .filter((segment) => /\[[#-]+\]/.test(segment))

    // Interrupted once the bar shows: the bar is erased before "interrupted", which offers --resume.
    const here = world.dir('bar-60')
    const first = world.track(
      await world.spawnPty('get', ['get', name, `${here}/`], { cols: 60, rows: 20, env: runtime }),
    )
    await first.waitFor(/\[#+-*\]/, { timeoutMs: 30_000 })
    const during = await screenOf(first.rawOutput, 60, 20)
    printScreen('rescue get, mid-transfer, 60 columns', during)
    first.write('\u0003')
    await first.waitForExit(30_000)
    const stopped = await screenOf(first.rawOutput, 60, 20)
    printScreen('rescue get after Ctrl-C, 60 columns', stopped)
    expect(first.output).toContain('interrupted')
    expect(first.output).toContain('--resume')
    expect(stopped.lines.some((line) => /\[[#-]+\]/.test(line))).toBe(false)

    // Resumed to the end: every frame of the bar fits, and the screen keeps only the sentence.
    const second = world.track(
      await world.spawnPty('get', ['get', '--resume', name, `${here}/`], {
        cols: 60,
        rows: 20,
        env: runtime,
      }),
    )
    expect((await second.waitForExit(60_000)).exitCode, second.output).toBe(0)
    const done = await screenOf(second.rawOutput, 60, 20)
    printScreen('rescue get --resume, finished, 60 columns', done)
    expect(done.lines.some((line) => /\[[#-]+\]/.test(line))).toBe(false)
    expect(second.output).toMatch(/MiB moved, [\d.]+ MiB already there/)

    const frames = [...bars(first.rawOutput), ...bars(second.rawOutput)]
    expect(frames.length).toBeGreaterThan(1)
    for (const frame of frames) {
      // Two columns spare for the "^C" a terminal echoes after it.
      expect(frame.replace('^C', '').length, frame).toBeLessThanOrEqual(57)
      expect(frame.length, frame).toBeLessThan(60)
    }
    for (const screen of [during, stopped, done]) {
      // Only the closing sentences are long enough to wrap; the bar never does.
      for (const row of screen.wrapped) expect(screen.lines[row - 1]).not.toMatch(/\[[#-]+\]/)
    }
  })
})

describe('the end user’s chat during a shell', () => {
  it('waits until the shell ends (the bell rings), so the remote screen is never written over', async () => {
    const { pin } = await world.newPin()
    const host = world.track(
      await world.spawnPty(
        'host',
        ['host', '--server', url, '--pin', pin, '--auto-approve', 'shell', '--trust-gateway'],
        {
          cols: 100,
          rows: 30,
          env: {
            HOME: world.dir(`home-${pin}`),
            SHELL: '/bin/sh',
            XDG_STATE_HOME: world.dir(`state-${pin}`),
          },
        },
      ),
    )
    await host.waitFor('waiting for your technician')
    const technician = world.track(
      await world.spawnPty('connect', ['connect', '--pin', pin], { cols: 100, rows: 30, env: runtime }),
    )
    await confirmWords(host)
    await host.waitFor('shell #')
    const mark = technician.rawOutput.length
    host.write('c')
    await host.waitFor('chat>')
    host.write('did it work?\r')
    await waitUntil(() => technician.rawOutput.slice(mark).includes('\u0007'))
    await delay(300)
    expect(technician.output).not.toContain('did it work?')

    technician.write('exit\r')
    await technician.waitFor('chat from the end user: did it work?')
    await technician.waitForExit()
  })
})

describe('the end user’s computer, as the technician learns it', () => {
  it('its name and the user’s name come with system information, which the prompt says, and not before', async () => {
    const refused = await world.liveSession(url, runtime.XDG_RUNTIME_DIR!)
    const denied = await world.run(['sysinfo', '--json'], { env: runtime })
    expect(denied.exitCode).toBe(ExitCode.denied)
    const request = refused.host.events.find((event) => event.event === 'consent-request')
    expect(request?.summary).toContain('its name, your user name')
    // Pairing told the technician nothing about the computer.
    const paired = refused.technician.events.find((event) => event.event === 'paired')
    expect(JSON.stringify(paired)).not.toContain(os.hostname())
    await world.stopTracked()

    await world.liveSession(url, runtime.XDG_RUNTIME_DIR!, '--auto-approve', 'sysinfo')
    const allowed = await world.run(['sysinfo', '--json'], { env: runtime })
    expect(allowed.exitCode, allowed.stderr).toBe(0)
    const info = JSON.parse(allowed.stdout) as { os?: { hostname: string; user?: string } }
    expect(info.os).toMatchObject({ hostname: os.hostname(), user: os.userInfo().username })
    const table = await world.run(['sysinfo'], { env: runtime })
    expect(table.stdout).toMatch(new RegExp(`User +${os.userInfo().username}`))
  })
})
