/**
 * `rescue reboot` through the built CLI on real terminals (node-pty, CI unset): the technician's
 * shell, the end user allowing a restart, the fake restart command (RESCUE_REBOOT_COMMAND, a
 * script that only records it was called), the sealed ticket left 0600, `rescue host --resume`
 * after the "restart", the end user confirming, and the technician's shell starting anew on the
 * same host. A refused restart schedules nothing and writes no ticket.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  AFTER_GUARD_MS,
  CliWorld,
  confirmWords,
  onlyJson,
  waitUntil,
  type JsonLine,
  type PtyProcess,
} from './cli.js'

const ADMIN = {
  email: 'dana@acme.example',
  password: 'seven green bottles on the wall',
  name: 'Dana Kim',
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

/** The remote shell's prompt (root's is `# `). */
const PROMPT = /[$#] $/m
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Presses `key` once the prompt has been on screen longer than the type-ahead guard. */
async function press(pty: PtyProcess, key: string): Promise<void> {
  await delay(AFTER_GUARD_MS)
  pty.write(key)
}

/** An end user on a terminal with a fake restart command, and a technician's shell on another. */
async function sessionWithShell() {
  const { pin } = await world.newPin()
  const stateDir = world.dir('state')
  const runtime = world.dir('runtime')
  const calls = path.join(world.dir('reboot'), 'calls')
  const script = path.join(path.dirname(calls), 'fake-reboot.sh')
  fs.writeFileSync(script, `#!/bin/sh\necho "restart asked $*" >> '${calls}'\n`, { mode: 0o755 })
  const hostEnv = {
    XDG_STATE_HOME: stateDir,
    HOME: world.dir('home'),
    SHELL: '/bin/sh',
    PS1: '$ ',
    RESCUE_REBOOT_COMMAND: script,
  }
  const host = world.track(
    await world.spawnPty('host', ['host', '--server', url, '--pin', pin], {
      cols: 120,
      rows: 40,
      env: hostEnv,
    }),
  )
  await host.waitFor('waiting for your technician')
  const technician = world.track(
    await world.spawnPty('connect', ['connect', '--pin', pin], {
      cols: 120,
      rows: 40,
      env: { XDG_RUNTIME_DIR: runtime, SHELL: '/bin/sh', PS1: '$ ' },
    }),
  )
  const words = await confirmWords(host)
  await host.waitFor(`${ADMIN.email} wants to open a shell`, { from: words.end })
  await press(host, 'a')
  await technician.waitFor(PROMPT)
  const from = technician.mark()
  technician.write('echo before-$((1+1))\r')
  await technician.waitFor('before-2', { from })
  return { host, technician, hostEnv, stateDir, runtime, calls }
}

const ticketFile = (stateDir: string) => path.join(stateDir, 'rescue', 'resume-ticket.json')

async function auditLog(stateDir: string): Promise<JsonLine[]> {
  const log = onlyJson(await world.run(['log', '--json'], { env: { XDG_STATE_HOME: stateDir } }))
  expect(log.skipped).toBe(0)
  return log.entries as JsonLine[]
}

describe('rescue reboot', () => {
  it('restarts the end user’s computer once allowed, and rescue host --resume brings the technician’s session back', async () => {
    const { host, technician, hostEnv, stateDir, runtime, calls } = await sessionWithShell()

    const reboot = world.run(['reboot'], { env: { XDG_RUNTIME_DIR: runtime } })
    const asked = await host.waitFor(`${ADMIN.email} wants to restart this computer`)
    await press(host, 'a')
    const result = await reboot
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain("the end user's computer is restarting")

    // The host ends its side saying what to do, then the (fake) restart command runs.
    await host.waitFor('after the restart run rescue host --resume', { from: asked.end })
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
    await waitUntil(() => fs.existsSync(calls))
    expect(fs.readFileSync(calls, 'utf8')).toBe('restart asked \n')
    const ticket = ticketFile(stateDir)
    expect(fs.statSync(ticket).mode & 0o777).toBe(0o600)
    // Sealed: nothing of the session's secrets or the technician in clear.
    const sealed = fs.readFileSync(ticket, 'utf8')
    expect(sealed).not.toContain(ADMIN.email)
    expect(sealed).not.toContain('OPENSSH PRIVATE KEY')

    await technician.waitFor("the end user's computer is restarting; waiting up to 15 min")

    // "After the restart": the end user rejoins, once they confirm whom.
    const resumed = world.track(
      await world.spawnPty('host-resumed', ['host', '--resume'], { cols: 120, rows: 40, env: hostEnv }),
    )
    await resumed.waitFor('after the restart, rejoin this session?')
    await resumed.waitFor(`technician ${ADMIN.name} <${ADMIN.email}> of ${ADMIN.organisation}`)
    await resumed.waitFor('nothing you allowed before the restart carries over')
    resumed.write('y')
    expect(fs.existsSync(ticket)).toBe(false)

    // The technician's shell starts anew, asked again: nothing carried over.
    await technician.waitFor("the end user's computer is back from its restart (the same host key)")
    await resumed.waitFor(`${ADMIN.email} wants to open a shell`).catch((error: unknown) => {
      throw new Error(`${String(error)}\n--- technician ---\n${technician.output}`)
    })
    await press(resumed, 'a')
    await technician.waitFor('the shell starts anew after the restart')
    let from = technician.mark()
    await technician.waitFor(PROMPT, { from })
    from = technician.mark()
    technician.write('echo after-$((2+3))\r')
    await technician.waitFor('after-5', { from })

    technician.write('\r~.')
    expect((await technician.waitForExit()).exitCode).toBe(0)
    expect(await resumed.waitForExit()).toEqual({ exitCode: 0, signal: undefined })

    const entries = await auditLog(stateDir)
    const decisions = entries
      .filter((entry) => entry.event === 'consent-decision')
      .map((entry) => [entry.permission, entry.decision])
    expect(decisions).toEqual([
      ['shell', 'once'],
      ['reboot', 'once'],
      ['shell', 'once'],
    ])
    const events = entries.map((entry) => entry.event)
    expect(events).toContain('reboot-scheduled')
    expect(events).toContain('session-rejoined')
    expect(events.indexOf('reboot-scheduled')).toBeLessThan(events.indexOf('session-rejoined'))
  })

  it('schedules nothing and writes no ticket when the end user denies it', async () => {
    const { host, technician, stateDir, runtime, calls } = await sessionWithShell()
    const reboot = world.run(['reboot'], { env: { XDG_RUNTIME_DIR: runtime } })
    const asked = await host.waitFor(`${ADMIN.email} wants to restart this computer`)
    await press(host, 'd')
    const result = await reboot
    expect(result.exitCode).toBe(15)
    expect(result.stderr).toContain('the end user denied')
    await host.waitFor('you denied', { from: asked.end })
    expect(fs.existsSync(calls)).toBe(false)
    expect(fs.existsSync(ticketFile(stateDir))).toBe(false)
    // The session goes on: the shell still answers.
    const from = technician.mark()
    technician.write('echo still-$((3+4))\r')
    await technician.waitFor('still-7', { from })
    technician.write('\r~.')
    await technician.waitForExit()
    await host.waitForExit()
    const entries = await auditLog(stateDir)
    expect(
      entries.filter((entry) => entry.event === 'consent-decision' && entry.permission === 'reboot'),
    ).toMatchObject([{ decision: 'deny', by: 'end-user' }])
    expect(entries.some((entry) => entry.event === 'reboot-scheduled')).toBe(false)
  })

  it('refuses rescue host --resume without a ticket, saying so', async () => {
    const resumed = world.track(
      await world.spawnPty('host-resumed', ['host', '--resume'], {
        env: { XDG_STATE_HOME: world.dir('state-empty') },
      }),
    )
    await resumed.waitFor('there is no resume ticket at')
    expect((await resumed.waitForExit()).exitCode).toBe(2)
  })
})
