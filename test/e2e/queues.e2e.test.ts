/**
 * Queues, the permission policy and transfer through the built CLI against a real `rescue
 * server`: an end user joins a group's shared queue with `rescue host --channel`, two technicians
 * race `rescue connect SESSION` (exactly one gets it), the group's denied permission is refused by
 * the gateway, `rescue transfer` hands the session over for a fresh pairing, and `rescue admin
 * audit` shows the transfer.
 */
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, onlyJson, waitUntil, type CliProcess, type RunResult } from './cli.js'

const ADMIN = {
  email: 'ivy@acme.example',
  password: 'a long and winding passphrase',
  name: 'Ivy Admin',
  organisation: 'Acme IT',
}
const PASSWORD = 'seven green bottles on the wall'

let world: CliWorld
let url: string
const envOf: Record<string, Record<string, string>> = {}

function ok(result: RunResult): RunResult {
  expect(result.exitCode, `${result.command}\n${result.stdout}\n${result.stderr}`).toBe(ExitCode.ok)
  return result
}

/** A technician in the helpdesk with their own config folder and runtime folder, logged in. */
async function technician(email: string): Promise<void> {
  const added = onlyJson(
    ok(await world.run(['admin', 'users', 'add', email, '--group', 'helpdesk', '--json'])),
  )
  const runtime = world.dir(`runtime-${email}`)
  fs.chmodSync(runtime, 0o700)
  envOf[email] = { XDG_CONFIG_HOME: world.dir(`config-${email}`), XDG_RUNTIME_DIR: runtime }
  ok(
    await world.run(['login', '--server', url, '--email', email, '--password-stdin', '--json'], {
      input: `${added.oneTimePassword as string}\n${PASSWORD}\n`,
      env: envOf[email],
    }),
  )
}

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
  ok(await world.run(['admin', 'groups', 'add', 'helpdesk']))
  ok(
    await world.run([
      'admin',
      'groups',
      'set',
      'helpdesk',
      '--allow',
      'shell,sysinfo,transfer',
      '--deny',
      'exec',
    ]),
  )
  await technician('bob@acme.example')
  await technician('carol@acme.example')
})
afterEach(() => world?.stopTracked())
afterAll(() => world?.dispose())

async function endUserInQueue(): Promise<{ host: CliProcess; sessionId: string }> {
  const host = world.spawn('host', ['host', '--server', url, '--channel', 'helpdesk', '--json'], {
    env: { HOME: world.dir('home'), SHELL: '/bin/sh' },
  })
  world.track(host)
  const waiting = await host.waitForEvent('waiting')
  return { host, sessionId: waiting.sessionId as string }
}

describe('shared queues through the CLI', () => {
  it('rescue queue lists the waiting end user; two technicians race and exactly one takes the session', async () => {
    const { host, sessionId } = await endUserInQueue()
    for (const email of ['bob@acme.example', 'carol@acme.example']) {
      const listed = onlyJson(ok(await world.run(['queue', '--json'], { env: envOf[email] })))
      expect(listed.sessions).toEqual([
        expect.objectContaining({ sessionId, channel: 'helpdesk', waitedSeconds: expect.any(Number) }),
      ])
    }
    const racers = ['bob@acme.example', 'carol@acme.example'].map((email) => {
      const racer = world.spawn(`connect-${email}`, ['connect', sessionId, '--no-shell', '--json'], {
        env: envOf[email],
      })
      world.track(racer)
      return racer
    })
    await host.waitForEvent('paired', 20_000)
    // The loser is told, and exits with the conflict code; the winner holds the session.
    const loser = await Promise.race(racers.map((racer) => racer.waitForExit(20_000).then(() => racer)))
    expect(loser.exit?.exitCode).toBe(ExitCode.conflict)
    expect(loser.stdout + loser.stderr).toContain('another technician already took this session')
    const winner = racers.find((racer) => racer !== loser)!
    expect(winner.events).toContainEqual(expect.objectContaining({ event: 'paired', sessionId }))
    expect(
      onlyJson(ok(await world.run(['queue', '--json'], { env: envOf['bob@acme.example'] }))).sessions,
    ).toEqual([])
  })

  it('the gateway refuses what the group denies, before the end user is asked', async () => {
    const { host, sessionId } = await endUserInQueue()
    const bob = world.spawn('connect', ['connect', sessionId, '--exec', 'id', '--json'], {
      env: envOf['bob@acme.example'],
    })
    world.track(bob)
    const exit = await bob.waitForExit(20_000)
    expect(exit.exitCode).toBe(ExitCode.forbidden)
    expect(bob.stdout + bob.stderr).toContain('your groups do not allow exec')
    expect(host.events.some((event) => event.event === 'consent-request')).toBe(false)
  })

  it('rescue transfer hands the session over: the end user sees the new technician and new words', async () => {
    const { host, sessionId } = await endUserInQueue()
    const bob = world.spawn('connect-bob', ['connect', sessionId, '--no-shell', '--json'], {
      env: envOf['bob@acme.example'],
    })
    world.track(bob)
    const first = await host.waitForEvent('paired', 20_000)
    await bob.waitForEvent('paired')
    const moved = onlyJson(
      ok(
        await world.run(['transfer', sessionId, '--to', 'carol@acme.example', '--json'], {
          env: envOf['bob@acme.example'],
        }),
      ),
    )
    expect(moved).toMatchObject({ sessionId, to: { email: 'carol@acme.example' } })
    expect((await bob.waitForExit()).exitCode).toBe(ExitCode.ok)
    await host.waitForEvent('transferred')
    const carolQueue = onlyJson(
      ok(await world.run(['queue', '--json'], { env: envOf['carol@acme.example'] })),
    )
    expect(carolQueue.sessions).toEqual([expect.objectContaining({ sessionId })])
    const carol = world.spawn('connect-carol', ['connect', sessionId, '--no-shell', '--json'], {
      env: envOf['carol@acme.example'],
    })
    world.track(carol)
    const second = await host.waitForEvent(
      'paired',
      20_000,
      (event) => (event.technician as { email?: string } | undefined)?.email === 'carol@acme.example',
    )
    expect(second.technician).toMatchObject({ email: 'carol@acme.example' })
    expect(second.sas).not.toBe(first.sas)
    expect((await carol.waitForEvent('paired')).sas).toBe(second.sas)
    const audit = ok(await world.run(['admin', 'audit', '--json']))
    expect(audit.stdout).toContain('sessions.transfer')
  })
})

describe('policy before the end user', () => {
  it('a folder send that needs files.browse, which the group does not allow, exits 17 and the host never shows a prompt', async () => {
    ok(await world.run(['admin', 'groups', 'add', 'uploads']))
    ok(await world.run(['admin', 'groups', 'set', 'uploads', '--allow', 'files.send']))
    const email = 'dave@acme.example'
    await technician(email)
    ok(await world.run(['admin', 'users', 'set', email, '--group', 'uploads']))
    const host = world.track(
      await world.spawnPty('host', ['host', '--server', url, '--channel', 'uploads'], {
        cols: 120,
        rows: 40,
        env: { HOME: world.dir('home-uploads'), SHELL: '/bin/sh' },
      }),
    )
    await host.waitFor('waiting for your technician')
    const queued = onlyJson(ok(await world.run(['queue', '--json'], { env: envOf[email] })))
    const sessionId = (queued.sessions as { sessionId: string }[])[0]!.sessionId
    const dave = world.track(
      world.spawn('connect', ['connect', sessionId, '--no-shell'], { env: envOf[email] }),
    )
    const connected = await host.waitFor('granted for this session: nothing')
    const runtime = envOf[email]!.XDG_RUNTIME_DIR!
    await waitUntil(() => fs.readdirSync(path.join(runtime, 'rescue')).some((name) => name.endsWith('.sock')))

    const folder = world.dir('tree-uploads')
    fs.writeFileSync(path.join(folder, 'a.txt'), 'a\n')
    const sent = await world.run(['send', '-r', folder, 'drop/'], { env: envOf[email] })
    expect(sent.exitCode, sent.stderr).toBe(ExitCode.forbidden)
    expect(sent.stderr).toContain("your group's policy does not allow looking through folders (files.browse)")
    await delay(500)
    expect(host.output.slice(connected.end)).not.toContain('wants to')
    expect(host.output.slice(connected.end)).not.toContain('[d] deny')
    expect(fs.existsSync(path.join(world.dir('home-uploads'), 'drop'))).toBe(false)
    dave.kill('SIGTERM')
    await dave.waitForExit()
  })
})

describe('the channel an end user names', () => {
  it('does not exist: a clear error and the code for an unknown PIN or channel', async () => {
    const result = await world.run(['host', '--server', url, '--channel', 'nobody-here', '--json'], {
      env: { HOME: world.dir('home-none'), SHELL: '/bin/sh' },
    })
    expect(result.exitCode).toBe(ExitCode.pinInvalid)
    expect(onlyJson(result)).toMatchObject({ error: { message: 'no such channel "nobody-here"' } })
  })
})
