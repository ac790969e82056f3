/**
 * Several technicians (rescue invite): the end user's shared terminal (`rescue host --share`)
 * watched by the lead (`rescue connect --watch`), who invites a second technician. The second one
 * pairs afresh, with security words of their own that the end user confirms with them, is asked
 * for `view` in their own name (the lead's grant is not theirs), sees the same shell, and is
 * removed by the end user with one key, for good. All on real terminals (node-pty, CI unset).
 */
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CliWorld, onlyJson, type JsonLine, type PtyProcess, type RunResult } from './cli.js'

const ADMIN = {
  email: 'dana@acme.example',
  password: 'seven green bottles on the wall',
  name: 'Dana Kim',
  organisation: 'Acme IT',
}
const BOB = 'bob@acme.example'
const BOB_PASSWORD = 'eight blue bottles on the shelf'
const MENU = '\u001d'

let world: CliWorld
let url: string
let bobEnv: Record<string, string>

function ok(result: RunResult): RunResult {
  expect(result.exitCode, `${result.command}\n${result.stdout}\n${result.stderr}`).toBe(0)
  return result
}

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
  bobEnv = { XDG_CONFIG_HOME: world.dir('bob-config') }
  const added = onlyJson(
    ok(await world.run(['admin', 'users', 'add', BOB, '--name', 'Bob Jones', '--group', 'admins', '--json'])),
  )
  ok(
    await world.run(['login', '--server', url, '--email', BOB, '--password-stdin', '--json'], {
      input: `${added.oneTimePassword as string}\n${BOB_PASSWORD}\n`,
      env: bobEnv,
    }),
  )
})
afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

/** The end user presses Ctrl-] then `key` (the menu's answer). */
async function menu(pty: PtyProcess, key: string): Promise<void> {
  pty.write(MENU)
  await delay(100)
  pty.write(key)
}

describe('a second technician in the end user’s shared terminal', () => {
  it('pairs with words of their own, is asked for view in their name, sees the same shell, and is removed by the end user', async () => {
    const { pin } = await world.newPin()
    const stateDir = world.dir('state')
    const env = {
      XDG_STATE_HOME: stateDir,
      HOME: world.dir('home'),
      SHELL: '/bin/sh',
      PS1: '$ ',
      CI: undefined,
    }
    const host = world.track(
      await world.spawnPty('host', ['host', '--server', url, '--pin', pin, '--share'], {
        cols: 160,
        rows: 30,
        env,
      }),
    )
    await host.waitFor('waiting for your technician')
    const lead = world.track(
      await world.spawnPty('lead', ['connect', '--pin', pin, '--watch'], {
        cols: 120,
        rows: 40,
        env: { CI: undefined },
      }),
    )
    const leadWords = (await host.waitFor(/security words: (\S+ \S+ \S+)/)).text
    await menu(host, 'y')
    await host.waitFor(`${ADMIN.email} wants to watch your shared terminal`)
    await menu(host, 's')
    await lead.waitFor("watching the end user's terminal · read only")
    const sessionId = (await lead.waitFor(/session ([a-z0-9]+) \(for rescue transfer/)).text

    // Bad input first: each a clear error, and nothing reaches the end user.
    const self = await world.run(['invite', sessionId, '--to', ADMIN.email])
    expect(self.exitCode).toBe(2)
    expect(self.stderr).toContain('you cannot invite yourself')
    const nobody = await world.run(['invite', sessionId, '--to', 'nobody@acme.example'])
    expect(nobody.exitCode).toBe(2)
    expect(nobody.stderr).toContain('no technician nobody@acme.example')
    const unknown = await world.run(['invite', 'nosuchsession', '--to', BOB])
    expect(unknown.exitCode).toBe(1)
    expect(unknown.stderr).toContain('no live session nosuchsession of yours')
    expect(host.output).not.toContain('invited by')

    const invited = onlyJson(ok(await world.run(['invite', sessionId, '--to', BOB, '--json'])))
    const bobSession = invited.sessionId as string
    expect(bobSession).not.toBe(sessionId)
    await host.waitFor(`Bob Jones invited by ${ADMIN.name}, to pair with you`)
    // Bob finds it in his queue and takes it.
    expect(ok(await world.run(['queue'], { env: bobEnv })).stdout).toContain(bobSession)
    const bob = world.track(
      await world.spawnPty('bob', ['connect', bobSession, '--watch'], {
        cols: 120,
        rows: 40,
        env: { ...bobEnv, CI: undefined },
      }),
    )

    // Their own pairing: their own words, on both their screens, which the end user confirms with Bob.
    const asked = await host.waitFor(/invited: Bob Jones <bob@acme\.example> · security words: (\S+ \S+ \S+)/)
    const bobWords = asked.text
    expect(bobWords).not.toBe(leadWords)
    await bob.waitFor(bobWords)
    await menu(host, 'y')
    // The lead's view grant is not Bob's: he is asked for it in his own name.
    await host.waitFor(`Bob Jones wants to watch your shared terminal`, { from: asked.end })
    await menu(host, 'a')
    await bob.waitFor("watching the end user's terminal · read only")
    await host.waitFor(/dana@acme\.example> \+ 1 Bob Jones · watching/)

    // The end user types: both technicians see the same shell.
    const from = host.mark()
    host.write('echo seen-by-both-$((6*7))\r')
    await host.waitFor('seen-by-both-42', { from })
    await bob.waitFor('seen-by-both-42')
    await lead.waitFor('seen-by-both-42')

    // Ctrl-] then 1 removes Bob; the lead stays.
    const beforeRemoval = host.mark()
    await menu(host, '1')
    await host.waitFor(`Bob Jones <${BOB}> removed`, { from: beforeRemoval })
    await bob.waitFor('the end user removed you from the session')
    await bob.waitForExit()
    const again = await world.run(['connect', bobSession, '--exec', 'true'], { env: bobEnv })
    expect(again.exitCode).not.toBe(0)
    expect(again.stderr).toContain('the end user removed you from this session')
    const afterRemoval = host.mark()
    host.write('echo lead-still-watching\r')
    await host.waitFor('lead-still-watching', { from: afterRemoval })
    await lead.waitFor('lead-still-watching')

    lead.write(MENU)
    await delay(100)
    lead.write('q')
    await lead.waitForExit()
    await host.waitFor('Your shell goes on: exit it to close rescue.')
    host.write('exit\r')
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })

    // The end user's log says who did what, each technician under their own session.
    const log = onlyJson(await world.run(['log', '--json'], { env: { XDG_STATE_HOME: stateDir } }))
    const entries = log.entries as JsonLine[]
    const decisions = entries
      .filter((entry) => entry.event === 'consent-decision')
      .map((entry) => [entry.session, entry.permission, entry.decision])
    expect(decisions).toEqual([
      [sessionId, 'view', 'session'],
      [bobSession, 'view', 'once'],
    ])
    expect(entries).toContainEqual(
      expect.objectContaining({
        event: 'session-start',
        session: bobSession,
        technician: expect.objectContaining({ email: BOB }),
        invitedInto: sessionId,
      }),
    )
    expect(entries).toContainEqual(
      expect.objectContaining({ event: 'technician-removed', session: bobSession }),
    )
  })
})
