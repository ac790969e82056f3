/**
 * Queues, the permission policy and transfer through the built CLI against a real `rescue
 * server`: an admin makes a channel link, an end user joins the group's shared queue with it
 * (`rescue host` with RESCUE_CHANNEL_LINK, or `--channel -` and stdin), a revoked link and a bare
 * group name let nobody in, two technicians
 * race `rescue connect SESSION` (exactly one gets it), the group's denied permission is refused by
 * the gateway, `rescue transfer` hands the session over for a fresh pairing, and `rescue admin
 * audit` shows the transfer.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, confirmWords, onlyJson, waitUntil, type CliProcess, type RunResult } from './cli.js'

const ADMIN = {
  email: 'ivy@acme.example',
  password: 'a long and winding passphrase',
  name: 'Ivy Admin',
  organisation: 'Acme IT',
}
const PASSWORD = 'seven green bottles on the wall'

let world: CliWorld
let url: string
let dataDir: string
/** The helpdesk's channel link, as `admin channels create` printed it. */
let link: string
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
  const gateway = await world.startServer()
  await world.initAdmin(gateway.dataDir, ADMIN)
  await world.login(gateway.url, ADMIN)
  url = gateway.url
  dataDir = gateway.dataDir
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
  link = onlyJson(ok(await world.run(['admin', 'channels', 'create', 'helpdesk', '--json']))).link as string
  await technician('bob@acme.example')
  await technician('carol@acme.example')
})
afterEach(() => world?.stopTracked())
afterAll(() => world?.dispose())

/** An end user in the helpdesk's queue, the link in the environment (never in argv). */
async function endUserInQueue(): Promise<{ host: CliProcess; sessionId: string }> {
  const host = world.spawn('host', ['host', '--json'], {
    env: { HOME: world.dir('home'), SHELL: '/bin/sh', RESCUE_CHANNEL_LINK: link },
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
    // The host says "paired" as it answers the technician's hello, a moment before the technician can.
    expect(await winner.waitForEvent('paired')).toMatchObject({ sessionId })
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
    const uploadsLink = onlyJson(ok(await world.run(['admin', 'channels', 'create', 'uploads', '--json'])))
      .link as string
    const host = world.track(
      await world.spawnPty('host', ['host'], {
        cols: 120,
        rows: 40,
        env: { HOME: world.dir('home-uploads'), SHELL: '/bin/sh', RESCUE_CHANNEL_LINK: uploadsLink },
      }),
    )
    await host.waitFor('waiting in the shared queue of uploads')
    const queued = onlyJson(ok(await world.run(['queue', '--json'], { env: envOf[email] })))
    const sessionId = (queued.sessions as { sessionId: string }[])[0]!.sessionId
    const dave = world.track(
      world.spawn('connect', ['connect', sessionId, '--no-shell'], { env: envOf[email] }),
    )
    await confirmWords(host)
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

describe('channel links', () => {
  it('are made, listed (never shown again), used and revoked by an admin; a revoked link and a group name let nobody in', async () => {
    const made = ok(await world.run(['admin', 'channels', 'create', 'helpdesk', '--name', 'web']))
    const webLink = made.stdout.trim()
    expect(webLink).toMatch(new RegExp(`^${url}/join#[A-Za-z0-9_-]{43}$`))
    expect(made.stderr).toContain('shown once')
    const secret = webLink.split('#')[1]!
    const listed = ok(await world.run(['admin', 'channels', 'list']))
    expect(listed.stdout).toMatch(/web\s+helpdesk/)
    expect(listed.stdout + listed.stderr).not.toContain(secret)

    // The link names the gateway: the end user needs no --server.
    const host = world.spawn('host-web', ['host', '--json'], {
      env: { HOME: world.dir('home'), SHELL: '/bin/sh', RESCUE_CHANNEL_LINK: webLink },
    })
    world.track(host)
    const waiting = await host.waitForEvent('waiting')
    expect(waiting).toMatchObject({ via: 'channel', channel: 'helpdesk' })
    const queue = onlyJson(ok(await world.run(['queue', '--json'], { env: envOf['bob@acme.example'] })))
    expect(queue.sessions).toEqual([expect.objectContaining({ sessionId: waiting.sessionId })])
    const bob = world.spawn('connect-bob', ['connect', waiting.sessionId as string, '--no-shell', '--json'], {
      env: envOf['bob@acme.example'],
    })
    world.track(bob)
    await host.waitForEvent('paired', 20_000)

    ok(await world.run(['admin', 'channels', 'revoke', 'web']))
    const revoked = await world.run(['host', '--channel', '-', '--json'], {
      input: `${webLink}\n`,
      env: { HOME: world.dir('home-revoked'), SHELL: '/bin/sh' },
    })
    expect(revoked.exitCode).toBe(ExitCode.pinInvalid)
    expect(onlyJson(revoked)).toMatchObject({
      error: { message: 'no such channel link (it may have been revoked)' },
    })
    const byName = await world.run(['host', '--server', url, '--channel', 'helpdesk', '--json'], {
      env: { HOME: world.dir('home-none'), SHELL: '/bin/sh' },
    })
    expect(byName.exitCode).toBe(ExitCode.usage)
    expect(byName.stdout + byName.stderr).toContain('that is not a channel link')
    const audit = ok(await world.run(['admin', 'audit', '--json'])).stdout
    expect(audit).toContain('channels.create')
    expect(audit).toContain('channels.revoke')
    expect(audit).not.toContain(secret)
  })
})

describe('what each person is told', () => {
  it('a PIN that is not 6 digits is refused before any gateway is asked, on both sides', async () => {
    const host = await world.run(['host', '--server', 'http://127.0.0.1:1', '--pin', 'abc'], {
      env: { HOME: world.dir('home-abc') },
    })
    expect(host.exitCode).toBe(ExitCode.usage)
    expect(host.stderr).toContain('a PIN is 6 digits')
    expect(host.stderr).not.toContain('cannot reach')
    const connect = await world.run(['connect', '--pin', 'abc'], { env: envOf['bob@acme.example'] })
    expect(connect.exitCode).toBe(ExitCode.usage)
    expect(connect.stderr).toContain('a PIN is 6 digits')
  })

  it('after 10 wrong PINs an end user is told so, and may still join a shared queue from the same address', async () => {
    // From 127.0.0.2, so the other tests' PINs from 127.0.0.1 are not slowed.
    const env = { HOME: world.dir('home-wrong'), SHELL: '/bin/sh', RESCUE_BIND_ADDRESS: '127.0.0.2' }
    for (let attempt = 0; attempt < 10; attempt++) {
      const wrong = await world.run(['host', '--server', url, '--pin', String(200000 + attempt)], { env })
      expect(wrong.exitCode).toBe(ExitCode.pinInvalid)
    }
    const limited = await world.run(['host', '--server', url, '--pin', '299999'], { env })
    expect(limited.exitCode).toBe(ExitCode.rateLimited)
    expect(limited.stderr).toContain('too many wrong PINs from this address')
    const host = world.spawn('host-after-pins', ['host'], { env: { ...env, RESCUE_CHANNEL_LINK: link } })
    world.track(host)
    // The human line says which queue, and nothing of a PIN.
    const line = await host.waitForLine('waiting', (text) => text.includes('waiting'))
    expect(line).toContain('waiting in the shared queue of helpdesk for a technician')
    expect(host.stdout + host.stderr).not.toMatch(/PIN/)
  })

  it('a technician given an expired PIN is told to make a new one', async () => {
    const pin = onlyJson(ok(await world.run(['pin', '--json']))).pin as string
    const db = new Database(path.join(dataDir, 'rescue.db'))
    db.prepare('UPDATE pins SET expires_at = ? WHERE pin = ?').run(
      new Date(Date.now() - 1000).toISOString(),
      pin,
    )
    db.close()
    const result = await world.run(['connect', '--pin', pin, '--no-shell', '--json'])
    expect(result.exitCode).toBe(ExitCode.pinExpired)
    expect(result.stdout + result.stderr).toContain('make a new one with rescue pin')
    expect(result.stdout + result.stderr).not.toContain('ask your technician')
  })

  it('connect on a terminal shows the session id once connected; transfer without it is one clear line', async () => {
    const { host, sessionId } = await endUserInQueue()
    const connect = await world.spawnPty('connect-pty', ['connect', sessionId, '--no-shell'], {
      env: envOf['bob@acme.example'],
    })
    world.track(connect)
    await host.waitForEvent('paired', 20_000)
    await connect.waitFor(`session ${sessionId}`)

    const missing = await world.run(['transfer', '--to', 'carol@acme.example'], {
      env: envOf['bob@acme.example'],
    })
    expect(missing.exitCode).toBe(ExitCode.usage)
    expect(missing.stderr).toContain('missing the session id')
    expect(missing.stderr).toMatch(/rescue queue|rescue connect printed/)
    expect(missing.stderr).not.toContain('USAGE')
    expect(missing.stderr.trim().split('\n').length).toBeLessThanOrEqual(2)

    // Handed over, it is "transferred from bob" in carol's queue, not "your PIN".
    ok(
      await world.run(['transfer', sessionId, '--to', 'carol@acme.example'], {
        env: envOf['bob@acme.example'],
      }),
    )
    await host.waitForEvent('transferred')
    const carolQueue = ok(await world.run(['queue'], { env: envOf['carol@acme.example'] })).stdout
    expect(carolQueue).toContain(`${sessionId}  transferred from bob@acme.example`)
    expect(carolQueue).not.toContain('your PIN')
  })
})
