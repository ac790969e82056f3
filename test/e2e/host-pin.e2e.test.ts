/**
 * The end user's PIN stays out of argv, where every user of the computer can read it (`ps`):
 * `rescue host` asks for it on a terminal, reads it from stdin with `--pin-stdin`, and without
 * either fails at once naming what to use. The built CLI against a real gateway.
 */
import { execa } from 'execa'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld } from './cli.js'

const ADMIN = {
  email: 'erin@acme.example',
  password: 'nine purple kettles hum softly',
  name: 'Erin Park',
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

/** The process's command line as `ps` shows it to any user of this computer. */
async function commandLineInPs(pid: number): Promise<string> {
  const { stdout } = await execa('ps', ['-ww', '-o', 'args=', '-p', String(pid)])
  return stdout.trim()
}

describe('rescue host without --pin', () => {
  it('without a terminal and without a PIN, fails at once naming --pin-stdin, RESCUE_PIN, --pin and --channel', async () => {
    const started = Date.now()
    const result = await world.run(['host', '--server', url])
    expect(result.exitCode).toBe(ExitCode.usage)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^Error: no PIN was given, and there is no terminal to ask for it$/m)
    expect(result.stderr).toMatch(
      /^Next: .*--pin-stdin.*RESCUE_PIN.*--pin 123456 \(other users of this computer can see it in ps\).*--channel/m,
    )
    expect(result.stderr).not.toContain('    at ')
  })

  it.skipIf(process.platform === 'win32')(
    '--pin-stdin takes the PIN from stdin: the session pairs, and ps never shows the PIN',
    async () => {
      const { pin } = await world.newPin()
      const host = world.track(
        world.spawn('host', ['host', '--server', url, '--pin-stdin', '--json'], { input: `${pin}\n` }),
      )
      await host.waitForEvent('waiting')
      const shown = await commandLineInPs(host.pid!)
      expect(shown).toContain('host --server')
      expect(shown).toContain('--pin-stdin')
      expect(shown).not.toContain(pin)

      const technician = world.track(world.connect(pin))
      const [hostPaired, technicianPaired] = await Promise.all([
        host.waitForEvent('paired'),
        technician.waitForEvent('paired'),
      ])
      expect(hostPaired.sas).toBe(technicianPaired.sas)
      expect(await commandLineInPs(host.pid!)).not.toContain(pin)
    },
  )

  it('--pin-stdin refuses a first line that is not 6 digits, before asking the gateway', async () => {
    const result = await world.run(['host', '--server', url, '--pin-stdin'], { input: '12 34 56\n' })
    expect(result.exitCode).toBe(ExitCode.usage)
    expect(result.stderr).toMatch(/^Error: the first line of stdin is not a PIN: a PIN is 6 digits$/m)
  })

  it('on a terminal, asks for the PIN, shows it as typed, and asks again when it is not 6 digits', async () => {
    const { pin } = await world.newPin()
    const host = world.track(await world.spawnPty('host', ['host', '--server', url]))
    const question = 'The PIN your technician gave you (6 digits): '
    const first = await host.waitFor(question)
    host.write('12ab\r')
    const again = await host.waitFor('A PIN is 6 digits, such as 123456.', { from: first.end })
    await host.waitFor(question, { from: again.end })
    host.write(`${pin}\r`)
    await host.waitFor(`${question}${pin}`, { from: again.end })
    await host.waitFor('waiting for your technician', { from: again.end })
    const shown = await commandLineInPs(host.pid)
    expect(shown).not.toContain(pin)
  })

  it('--help says that --pin shows in ps, and what to use instead', async () => {
    const result = await world.run(['host', '--help'])
    expect(result.exitCode).toBe(ExitCode.ok)
    const help = result.stdout.replace(/\s+/g, ' ')
    expect(help).toContain('other users of this computer can see it in ps')
    expect(help).toContain('--pin-stdin read the PIN from the first line of stdin')
    expect(help).toContain('asks for the PIN on the terminal')
  })
})
