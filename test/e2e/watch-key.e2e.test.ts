/**
 * The watch key of `rescue connect`'s shell: Ctrl-] in the technician's remote shell switches to
 * watching the end user's shared terminal (`rescue host --share`), asked as `view` like `--watch`,
 * and the watch's `q` comes back to the same shell; the session goes on throughout. Both sides are
 * real terminals (node-pty, CI unset); what is checked is what each person sees.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CliWorld, onlyJson, type JsonLine, shareMenu } from './cli.js'

const ADMIN = {
  email: 'omar@acme.example',
  password: 'nine ladders against the barn',
  name: 'Omar Diaz',
  organisation: 'Acme IT',
}
const MENU = '\u001d'

let world: CliWorld
let url: string

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
})
afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

describe("the watch key in rescue connect's shell", () => {
  it("switches to the end user's shared terminal and back, refused without view, without ending the session", async () => {
    const { host, technician, stateDir, words } = await world.sharedSession(url)
    const shellAsked = await host.waitFor(`${ADMIN.email} wants to open a shell`, { from: words.end })
    await shareMenu(host, 'a')
    let from = technician.mark()
    technician.write('echo in-the-remote-shell-$((1+1))\r')
    await technician.waitFor('in-the-remote-shell-2', { from })

    // Ctrl-]: asked as view; the end user denies it, and the technician is back in their shell.
    from = technician.mark()
    technician.write(MENU)
    await technician.waitFor('asking the end user to let you watch their terminal', { from })
    const viewAsked = await host.waitFor(`${ADMIN.email} wants to watch your shared terminal`, {
      from: shellAsked.end,
    })
    await shareMenu(host, 'd')
    await technician.waitFor('you cannot watch', { from })
    await technician.waitFor('back in your shell', { from })
    from = technician.mark()
    technician.write('echo still-in-the-shell-$((2+2))\r')
    await technician.waitFor('still-in-the-shell-4', { from })

    // Ctrl-] again, allowed this time: the end user's typing shows on the technician's screen.
    from = technician.mark()
    technician.write(MENU)
    await host.waitFor(`${ADMIN.email} wants to watch your shared terminal`, { from: viewAsked.end })
    await shareMenu(host, 'a')
    await technician.waitFor("watching the end user's terminal · read only", { from })
    const hostFrom = host.mark()
    host.write('echo typed-by-the-end-user-$((3*3))\r')
    await host.waitFor('typed-by-the-end-user-9', { from: hostFrom })
    await technician.waitFor('typed-by-the-end-user-9', { from })

    // Ctrl-] then q: back in the same remote shell, which still answers.
    from = technician.mark()
    technician.write(MENU)
    await delay(100)
    technician.write('q')
    await technician.waitFor('back in your shell', { from })
    technician.write('echo back-again-$((5*5))\r')
    await technician.waitFor('back-again-25', { from })

    // Leaving the shell ends connect; the end user's shell goes on until they leave it.
    technician.write('exit\r')
    expect((await technician.waitForExit()).exitCode).toBe(0)
    await host.waitFor('Your shell goes on: exit it to close rescue.')
    host.write('exit\r')
    await host.waitForExit()

    const log = onlyJson(await world.run(['log', '--json'], { env: { XDG_STATE_HOME: stateDir } }))
    const entries = log.entries as JsonLine[]
    const decisions = entries.filter((entry) => entry.event === 'consent-decision')
    expect(decisions.map((entry) => [entry.permission, entry.decision])).toEqual([
      ['shell', 'once'],
      ['view', 'deny'],
      ['view', 'once'],
    ])
    const opened = entries.filter((entry) => entry.event === 'channel-open').map((entry) => entry.kind)
    expect(opened).toEqual(['shell', 'view'])
  })
})
