/**
 * The control socket of a live `rescue connect`: `rescue sysinfo` and `rescue chat` act on the
 * session from another process, with the built CLI as separate processes.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import type { SystemInfo } from '../../src/core/sysinfo/index.js'
import { CliWorld, confirmWords, jsonLines, waitUntil } from './cli.js'

const ADMIN = {
  email: 'fay@acme.example',
  password: 'a long and winding passphrase',
  name: 'Fay Ortiz',
  organisation: 'Acme IT',
}

let world: CliWorld
let url: string
/** The runtime folder shared by connect and the commands that reach it. */
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

/** A host with `flags`, and a technician holding the session with its control socket open. */
function liveSession(...flags: string[]) {
  return world.liveSession(url, runtime.XDG_RUNTIME_DIR!, ...flags)
}

describe('acting on a live session from another terminal', () => {
  it('the control socket is 0600 in a 0700 folder, and goes away with the session', async () => {
    const { technician, socket } = await liveSession()
    expect(fs.statSync(socket).mode & 0o777).toBe(0o600)
    expect(fs.statSync(path.dirname(socket)).mode & 0o777).toBe(0o700)
    technician.kill('SIGTERM')
    await technician.waitForExit()
    expect(fs.existsSync(socket)).toBe(false)
  })

  it('rescue sysinfo --json gives OS, kernel, CPU, memory, disks, network, uptime, processes and users once allowed', async () => {
    const { host } = await liveSession('--auto-approve', 'sysinfo')
    const result = await world.run(['sysinfo', '--json'], { env: runtime })
    expect(result.exitCode, result.stderr).toBe(0)
    const info = JSON.parse(result.stdout) as SystemInfo & { uptimeSeconds: number }
    expect(info.os?.kernel).toMatch(/\S/)
    expect(info.cpu?.cores).toBeGreaterThan(0)
    expect(info.memory?.totalBytes).toBeGreaterThan(0)
    expect(info.disks.length).toBeGreaterThan(0)
    expect(Array.isArray(info.network)).toBe(true)
    expect(info.uptimeSeconds).toBeGreaterThan(0)
    expect(info.processes?.top.length).toBeGreaterThan(0)
    expect(Array.isArray(info.users)).toBe(true)
    expect(host.events).toContainEqual(
      expect.objectContaining({ event: 'consent-decision', permission: 'sysinfo', decision: 'once' }),
    )
    const table = await world.run(['sysinfo'], { env: runtime })
    expect(table.stdout).toContain('Memory')
    expect(table.stdout).toContain('Disks')
  })

  it('rescue sysinfo without anyone at the host to allow it exits 15, saying why', async () => {
    await liveSession()
    const result = await world.run(['sysinfo'], { env: runtime })
    expect(result.exitCode).toBe(ExitCode.denied)
    expect(result.stderr).toContain("no one is at the host's terminal to allow system information")
  })

  it('rescue chat --message reaches the end user, sanitized, and is in their audit log', async () => {
    const { host } = await liveSession()
    const result = await world.run(['chat', '--json', '--message', 'rebooting now \u001b[2J'], {
      env: runtime,
    })
    expect(result.exitCode, result.stderr).toBe(0)
    expect(jsonLines(result.stdout)).toContainEqual(
      expect.objectContaining({ event: 'chat', from: 'technician' }),
    )
    const line = await host.waitForEvent('chat')
    expect(line).toMatchObject({ from: 'technician', text: 'rebooting now \\x1b[2J' })
  })

  it('with no live session, says so and how to start one', async () => {
    const result = await world.run(['sysinfo'], { env: { XDG_RUNTIME_DIR: world.dir('empty-runtime') } })
    expect(result.exitCode).toBe(ExitCode.failure)
    expect(result.stderr).toContain('no live session')
    expect(result.stderr).toContain('rescue connect --pin')
  })
})

describe('chat both ways with the end user at their terminal', () => {
  it('the end user types c, a line and Enter; the technician’s rescue chat shows it, and its reply shows in the view', async () => {
    const { pin } = await world.newPin()
    const host = await world.spawnPty('host', ['host', '--server', url, '--pin', pin], {
      cols: 120,
      rows: 40,
      env: { HOME: world.dir('home'), SHELL: '/bin/sh', XDG_STATE_HOME: world.dir('chat-state') },
    })
    const technician = world.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json'], {
      env: runtime,
    })
    world.track(technician)
    try {
      await confirmWords(host)
      const paired = await technician.waitForEvent('paired')
      await waitUntil(() =>
        fs.existsSync(path.join(runtime.XDG_RUNTIME_DIR!, 'rescue', `${paired.sessionId as string}.sock`)),
      )
      const chat = await world.spawnPty('chat', ['chat'], { env: runtime })
      try {
        await chat.waitFor('chatting with the end user')
        host.write('c')
        await host.waitFor('chat>')
        host.write('hello from the end user')
        host.write('\r')
        await chat.waitFor('end user: hello from the end user')
        chat.write('on my way\r')
        await host.waitFor('technician: on my way')
      } finally {
        await chat.stop()
      }
    } finally {
      await host.stop()
    }
  })
})
