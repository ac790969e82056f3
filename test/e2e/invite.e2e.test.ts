/**
 * Several technicians (rescue invite): the end user's shared terminal (`rescue host --share`)
 * watched by the lead (`rescue connect --watch`), who invites a second technician. The second one
 * pairs afresh, with security words of their own that the end user confirms with them, is asked
 * for `view` in their own name (the lead's grant is not theirs), sees the same shell, and is
 * removed by the end user with one key, for good. All on real terminals (node-pty, CI unset).
 */
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CliWorld, onlyJson, type JsonLine, type RunResult, shareMenu } from './cli.js'

const ADMIN = {
  email: 'dana@acme.example',
  password: 'seven green bottles on the wall',
  name: 'Dana Kim',
  organisation: 'Acme IT',
}
const BOB = 'bob@acme.example'
const BOB_PASSWORD = 'eight blue bottles on the shelf'
const CAROL = 'carol@acme.example'
const CAROL_PASSWORD = 'nine red kites above the hill'
const MENU = '\u001d'

let world: CliWorld
let url: string
let bobEnv: Record<string, string>
let carolEnv: Record<string, string>

function ok(result: RunResult): RunResult {
  expect(result.exitCode, `${result.command}\n${result.stdout}\n${result.stderr}`).toBe(0)
  return result
}

/** Adds a technician of the admins' group and logs them in; returns their environment. */
async function technician(email: string, name: string, password: string): Promise<Record<string, string>> {
  const env = { XDG_CONFIG_HOME: world.dir(`${email}-config`) }
  const added = onlyJson(
    ok(await world.run(['admin', 'users', 'add', email, '--name', name, '--group', 'admins', '--json'])),
  )
  ok(
    await world.run(['login', '--server', url, '--email', email, '--password-stdin', '--json'], {
      input: `${added.oneTimePassword as string}\n${password}\n`,
      env,
    }),
  )
  return env
}

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
  bobEnv = await technician(BOB, 'Bob Jones', BOB_PASSWORD)
  carolEnv = await technician(CAROL, 'Carol Ng', CAROL_PASSWORD)
})
afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

describe('a second technician in the end user’s shared terminal', () => {
  it('pairs with words of their own, is asked for view in their name, sees the same shell, and is removed by the end user', async () => {
    const shared = await world.sharedSession(url, ['--watch'], 160)
    const { host, stateDir } = shared
    const lead = shared.technician
    const leadWords = shared.words.text
    await host.waitFor(`${ADMIN.email} wants to watch your shared terminal`)
    await shareMenu(host, 's')
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
    await shareMenu(host, 'y')
    // The lead's view grant is not Bob's: he is asked for it in his own name.
    await host.waitFor(`Bob Jones wants to watch your shared terminal`, { from: asked.end })
    await shareMenu(host, 'a')
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
    await shareMenu(host, '1')
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

  it('goes on for the others when a technician who handed the lead over leaves, and ends when the lead leaves', async () => {
    const { host, technician: dana, stateDir, words } = await world.sharedSession(url, [], 160)
    await host.waitFor(`${ADMIN.email} wants to open a shell`, { from: words.end })
    await shareMenu(host, 'a')
    let from = dana.mark()
    dana.write('echo dana-in-$((1+1))\r')
    await dana.waitFor('dana-in-2', { from })
    const started = onlyJson(await world.run(['log', '--json'], { env: { XDG_STATE_HOME: stateDir } }))
    const sessionId = (started.entries as JsonLine[]).find((entry) => entry.event === 'session-start')
      ?.session as string
    expect(sessionId).toMatch(/^[a-z0-9]+$/)

    // Bob is invited and pairs with words of his own; he opens a shell of his own.
    const bobSession = onlyJson(ok(await world.run(['invite', sessionId, '--to', BOB, '--json'])))
      .sessionId as string
    const bob = world.track(
      await world.spawnPty('bob', ['connect', bobSession], {
        cols: 120,
        rows: 40,
        env: { ...bobEnv, CI: undefined },
      }),
    )
    const bobAsked = await host.waitFor(
      /invited: Bob Jones <bob@acme\.example> · security words: (\S+ \S+ \S+)/,
    )
    await bob.waitFor(bobAsked.text)
    await shareMenu(host, 'y')
    await host.waitFor('Bob Jones wants to open a shell', { from: bobAsked.end })
    await shareMenu(host, 'a')
    from = bob.mark()
    bob.write('echo bob-pid-$$-end\r')
    const pid = (await bob.waitFor(/bob-pid-(\d+)-end/, { from })).text
    await host.waitFor(/dana@acme\.example> \+ 1 Bob Jones/)

    // Dana hands the lead to Bob, then leaves: only her seat ends.
    ok(await world.run(['lead', sessionId, '--to', BOB]))
    await host.waitFor('Bob Jones <bob@acme.example> now leads')
    const beforeLeaving = host.mark()
    dana.write('exit\r')
    expect((await dana.waitForExit()).exitCode).toBe(0)
    await host.waitFor(`${ADMIN.name} <${ADMIN.email}> left`, { from: beforeLeaving })
    await host.waitFor('here: 1 Bob Jones ·', { from: beforeLeaving })
    // Bob's shell is the same one, still answering.
    from = bob.mark()
    bob.write('echo bob-pid-$$-end\r')
    expect((await bob.waitFor(/bob-pid-(\d+)-end/, { from })).text).toBe(pid)
    // Bob, the lead now, invites Carol into the same session.
    const carolSession = onlyJson(
      ok(await world.run(['invite', bobSession, '--to', CAROL, '--json'], { env: bobEnv })),
    ).sessionId as string
    const carol = world.track(
      await world.spawnPty('carol', ['connect', carolSession], {
        cols: 120,
        rows: 40,
        env: { ...carolEnv, CI: undefined },
      }),
    )
    const carolAsked = await host.waitFor(
      /invited: Carol Ng <carol@acme\.example> · security words: (\S+ \S+ \S+)/,
    )
    await carol.waitFor(carolAsked.text)
    await shareMenu(host, 'y')
    await host.waitFor('Carol Ng wants to open a shell', { from: carolAsked.end })
    await shareMenu(host, 'a')
    from = carol.mark()
    carol.write('echo carol-in-$((2+3))\r')
    await carol.waitFor('carol-in-5', { from })
    await host.waitFor('here: 1 Bob Jones + 2 Carol Ng ·')

    // Bob leaves without handing the lead over: the session ends for Carol and the end user, saying why.
    bob.write('exit\r')
    expect((await bob.waitForExit()).exitCode).toBe(0)
    await carol.waitFor(`the lead technician ${BOB} ended the session`)
    expect((await carol.waitForExit()).exitCode).toBe(0)
    await host.waitFor(`session ended: the lead technician ${BOB} ended the session`)
    await host.waitFor('Your shell goes on: exit it to close rescue.')
    host.write('exit\r')
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })

    // The end user's log says who left, and when.
    const log = onlyJson(await world.run(['log', '--json'], { env: { XDG_STATE_HOME: stateDir } }))
    const entries = log.entries as JsonLine[]
    expect(entries).toContainEqual(
      expect.objectContaining({
        event: 'technician-left',
        session: sessionId,
        technician: expect.objectContaining({ email: ADMIN.email }),
      }),
    )
    expect(entries).toContainEqual(
      expect.objectContaining({
        event: 'technician-left',
        session: bobSession,
        technician: expect.objectContaining({ email: BOB }),
      }),
    )
  })
})
