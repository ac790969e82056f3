/**
 * Helping together on one screen: the end user's own shell under `rescue host --share`, watched by
 * the technician's `rescue connect --watch`, both on real terminals (node-pty, CI unset). What is
 * checked is what each person sees: the end user's typing on the technician's screen, the
 * technician's keys going nowhere until control is allowed, and one key taking control back.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CliWorld, onlyJson, type JsonLine, shareMenu } from './cli.js'
import { printScreen, screenOf } from './screen.js'

const ADMIN = {
  email: 'dana@acme.example',
  password: 'seven green bottles on the wall',
  name: 'Dana Kim',
  organisation: 'Acme IT',
}
const MENU = '\u001d'
/** Long enough for keys in flight to have arrived, were they to arrive. */
const SETTLE_MS = 700

let world: CliWorld
let url: string

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
})
afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

describe('rescue host --share watched by rescue connect --watch', () => {
  it('shows the end user typing, drops the watcher’s keys until control, and takes control back with one key', async () => {
    // The words, then the request to watch, are asked on the end user's status bar.
    const { host, technician, stateDir, words } = await world.sharedSession(url, ['--watch'])
    const asked = await host.waitFor(`${ADMIN.email} wants to watch your shared terminal (read only`, {
      from: words.end,
    })
    await shareMenu(host, 'a')
    await technician.waitFor("watching the end user's terminal · read only")
    await host.waitFor('· watching · cannot type', { from: asked.end })

    // The end user types in their own shell: the technician sees it. The smallest window wins.
    let from = host.mark()
    host.write('echo from-the-end-user-$((6*7))\r')
    await host.waitFor('from-the-end-user-42', { from })
    await technician.waitFor('from-the-end-user-42')
    // The technician's window size crosses the gateway after the view opens: asked until it has.
    for (let tries = 0; !technician.output.includes('29 120'); tries++) {
      if (tries === 20)
        throw new Error(`the shared terminal never took the smaller window\n${technician.output}`)
      host.write('stty size\r')
      await delay(500)
    }

    // The technician types without control: nothing reaches the shell. Asking for control after
    // the keys makes the host read them first (SSH keeps order), so the prompt is the proof.
    from = host.mark()
    technician.write('echo typed-unasked-$((2*3))\r')
    technician.write(MENU)
    await delay(100)
    technician.write('c')
    const control = await host.waitFor(`${ADMIN.email} wants to type in your shared terminal`, { from })
    expect(host.output.slice(from)).not.toContain('typed-unasked')
    await technician.waitFor('asking to type…')

    await shareMenu(host, 'a')
    await technician.waitFor('you may type')
    await host.waitFor('may type', { from: control.end })
    from = host.mark()
    technician.write('echo typed-allowed-$((2*3))\r')
    await host.waitFor('typed-allowed-6', { from })
    await host.waitFor('last typed: technician', { from })

    // One key, Ctrl-], and control is back with the end user.
    from = host.mark()
    host.write(MENU)
    await host.waitFor('you took control back', { from })
    await technician.waitFor('the end user took control back')
    host.write('\u001b') // any other key closes the menu
    const afterTakeBack = host.mark()
    technician.write('echo typed-after-take-back-$((3*3))\r')
    technician.write(MENU)
    await delay(100)
    technician.write('c')
    await host.waitFor(`${ADMIN.email} wants to type in your shared terminal`, { from: afterTakeBack })
    await delay(SETTLE_MS)
    expect(host.output.slice(afterTakeBack)).not.toContain('typed-after-take-back')
    await shareMenu(host, 'd')

    printScreen('the technician watching', await screenOf(technician.rawOutput, 120, 40))
    // The technician stops watching; the end user's shell goes on until they leave it.
    technician.write(MENU)
    await delay(100)
    technician.write('q')
    expect(await technician.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
    await host.waitFor('Your shell goes on: exit it to close rescue.')
    host.write('exit\r')
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })

    const log = onlyJson(await world.run(['log', '--json'], { env: { XDG_STATE_HOME: stateDir } }))
    const entries = log.entries as JsonLine[]
    expect(log.skipped).toBe(0)
    const decisions = entries.filter((entry) => entry.event === 'consent-decision')
    expect(decisions.map((entry) => [entry.permission, entry.decision])).toEqual([
      ['view', 'once'],
      ['control', 'once'],
      ['control', 'deny'],
    ])
    expect(entries.some((entry) => entry.event === 'control-taken-back')).toBe(true)
    expect(entries.filter((entry) => entry.event === 'refused').map((entry) => entry.request)).toEqual([
      'typing in the shared terminal without control (the keys were dropped)',
      'typing in the shared terminal without control (the keys were dropped)',
    ])
  })
})

describe('rescue url with bad input', () => {
  it('refuses an address that is not http(s), too long or holds control characters, before looking for a session', async () => {
    for (const [address, message] of [
      ['file:///etc/passwd', 'only http and https addresses can be opened, not file:'],
      [`https://acme.example/${'a'.repeat(2000)}`, 'characters long: at most 2000'],
      ['https://acme.example/\u001b[2J', 'holds spaces, control or invisible characters'],
    ] as const) {
      const result = await world.run(['url', address])
      expect(result.exitCode).toBe(2)
      expect(result.stderr).toContain(message)
      // eslint-disable-next-line no-control-regex
      expect(result.stderr).not.toMatch(/\u001b\[2J/)
    }
  })

  it('names the unknown session', async () => {
    const result = await world.run(['url', 'https://acme.example/', '--session', 'nosuchsession'])
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('no live session nosuchsession on this machine')
  })

  it('refuses clipboard text too big before looking for a session', async () => {
    const big = await world.run(['clipboard', 'push'], { input: 'x'.repeat(2001) })
    expect(big.exitCode).toBe(2)
    expect(big.stderr).toContain('the text is 2001 characters long: at most 2000')
  })
})
