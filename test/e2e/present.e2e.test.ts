/**
 * The technician presents (`rescue present`): their own shell on their terminal, shown read only
 * on the end user's `rescue host` screen, both real terminals (node-pty, CI unset), the session
 * held by a `rescue connect` whose control socket `present` reaches. Checked as each person sees
 * it: the technician's typing on the end user's screen, the end user's keys going nowhere, and one
 * key giving the end user their screen back while the session goes on.
 */
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { AFTER_GUARD_MS, CliWorld, confirmWords, jsonLines, waitUntil, type JsonLine } from './cli.js'
import { printScreen, screenOf } from './screen.js'

const ADMIN = {
  email: 'ines@acme.example',
  password: 'the quiet owl reads at night',
  name: 'Ines Roy',
  organisation: 'Acme IT',
}
/** Long enough for keys in flight to have arrived, were they to arrive. */
const SETTLE_MS = 700

let world: CliWorld
let url: string
let runtime: string

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
  runtime = world.dir('runtime')
  fs.chmodSync(runtime, 0o700)
})
afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

/** An end user at `rescue host` on a terminal, words confirmed, and a technician holding the session. */
async function attendedSession() {
  const { pin } = await world.newPin()
  const auditLog = path.join(world.dir(`state-${pin}`), 'audit.jsonl')
  const host = world.track(
    await world.spawnPty('host', ['host', '--server', url, '--pin', pin], {
      cols: 100,
      rows: 30,
      env: { HOME: world.dir(`home-${pin}`), SHELL: '/bin/sh', RESCUE_AUDIT_LOG: auditLog, CI: undefined },
    }),
  )
  await host.waitFor('waiting for')
  const technician = world.track(
    world.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json'], {
      env: { XDG_RUNTIME_DIR: runtime },
    }),
  )
  const paired = await technician.waitForEvent('paired')
  const socket = path.join(runtime, 'rescue', `${paired.sessionId as string}.sock`)
  await waitUntil(() => fs.existsSync(socket))
  const words = await confirmWords(host)
  return { host, technician, auditLog, from: words.end }
}

function presenter(cols = 120, rows = 40) {
  return world.spawnPty('present', ['present'], {
    cols,
    rows,
    env: { XDG_RUNTIME_DIR: runtime, SHELL: '/bin/sh', PS1: '$ ', CI: undefined },
  })
}

const auditOf = (file: string): JsonLine[] => jsonLines(fs.readFileSync(file, 'utf8'))

describe('rescue present', () => {
  it("shows the technician's shell on the end user's screen, read only, until the end user stops watching with one key", async () => {
    const { host, auditLog, from: afterWords } = await attendedSession()
    const present = world.track(await presenter())
    await present.waitFor('waiting for the end user to allow it')

    // The end user is asked first, naming who asks; nothing shows before they allow it.
    await host.waitFor(`${ADMIN.email} wants to show you their terminal`, { from: afterWords })
    await delay(AFTER_GUARD_MS)
    host.write('a')
    await host.waitFor(
      `q stop watching · Ctrl-C end the session · ${ADMIN.email} is showing you their terminal`,
    )
    await present.waitFor('presenting this terminal to the end user')
    // The shell's first prompt reaches the end user's screen too.
    await host.waitFor('$ ', { from: host.output.lastIndexOf('is showing you their terminal') })

    // The technician types in their own shell: the end user's screen shows it.
    let from = host.mark()
    present.write('echo from-the-technician-$((6*7))\r')
    await present.waitFor('from-the-technician-42')
    await host.waitFor('from-the-technician-42', { from })

    // The smallest window wins: the end user's 100x29 (30 rows less the bar) under the technician's 120x39.
    present.write('stty size\r')
    await host.waitFor('29 100', { from })

    // The end user types: nothing reaches the technician's shell. The technician's next command
    // shown on the end user's screen proves that what the end user typed before had its chance.
    const presentFrom = present.mark()
    host.write('echo typed-by-the-end-user\r')
    await delay(SETTLE_MS)
    from = host.mark()
    present.write('echo still-presenting\r')
    await host.waitFor('still-presenting', { from })
    expect(present.output.slice(presentFrom)).not.toContain('typed-by-the-end-user')

    printScreen(
      "the end user's screen while the technician presents",
      await screenOf(host.rawOutput, 100, 30),
    )

    // One key, q: the end user's own rescue screen is back, the session goes on.
    from = host.mark()
    host.write('q')
    await host.waitFor("you stopped watching the technician's terminal", { from })
    await present.waitFor('the end user stopped watching')
    // The technician's shell is theirs and goes on; leaving it ends `rescue present`.
    present.write('exit\r')
    expect(await present.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
    expect(present.output).toContain('the end user stopped watching')

    // The session is still there: the end user ends it from their screen as usual.
    await delay(AFTER_GUARD_MS)
    host.write('q')
    await host.waitFor('End the session now?')
    host.write('y')
    await host.waitForExit()

    const entries = auditOf(auditLog)
    const decisions = entries.filter((entry) => entry.event === 'consent-decision')
    expect(decisions.map((entry) => [entry.permission, entry.decision, entry.by])).toEqual([
      ['present', 'once', 'end-user'],
    ])
    const opened = entries.find((entry) => entry.event === 'channel-open' && entry.kind === 'present')
    expect(opened).toBeDefined()
    expect(entries).toContainEqual(
      expect.objectContaining({ event: 'stopped-watching', channel: opened!.channel }),
    )
    expect(entries).toContainEqual(
      expect.objectContaining({ event: 'channel-close', kind: 'present', channel: opened!.channel }),
    )
  })

  it('lets the end user end the whole session from the presentation with Ctrl-C', async () => {
    const { host, technician, from: afterWords } = await attendedSession()
    const present = world.track(await presenter())
    await host.waitFor(`${ADMIN.email} wants to show you their terminal`, { from: afterWords })
    await delay(AFTER_GUARD_MS)
    host.write('a')
    await host.waitFor('q stop watching · Ctrl-C end the session')
    await present.waitFor('presenting this terminal to the end user')
    host.write('\u0003')
    await technician.waitForEvent('ended')
    expect((await host.waitForExit()).exitCode).toBe(130)
    await present.waitFor('the end user no longer sees this terminal')
    present.write('exit\r')
    expect((await present.waitForExit()).exitCode).toBe(0)
  })

  it('shows nothing when the end user denies it, and says so (exit 15)', async () => {
    const { host, auditLog, from: afterWords } = await attendedSession()
    const present = world.track(await presenter())
    await host.waitFor(`${ADMIN.email} wants to show you their terminal`, { from: afterWords })
    await delay(AFTER_GUARD_MS)
    host.write('d')
    expect((await present.waitForExit()).exitCode).toBe(ExitCode.denied)
    expect(present.output).toContain('denied')
    expect(present.output).not.toContain('presenting this terminal')
    const entries = auditOf(auditLog)
    expect(entries).toContainEqual(
      expect.objectContaining({ event: 'consent-decision', permission: 'present', decision: 'deny' }),
    )
    expect(entries.some((entry) => entry.event === 'channel-open' && entry.kind === 'present')).toBe(false)
  })

  it('refuses without a live session, sending nothing', async () => {
    const empty = world.dir('no-session-runtime')
    fs.chmodSync(empty, 0o700)
    fs.mkdirSync(path.join(empty, 'rescue'), { mode: 0o700 })
    const result = await world.run(['present'], { env: { XDG_RUNTIME_DIR: empty } })
    expect(result.exitCode).toBe(ExitCode.failure)
    expect(result.stderr).toContain('no live session on this machine')
    expect(result.stderr).toContain('rescue connect --pin PIN')
  })
})
