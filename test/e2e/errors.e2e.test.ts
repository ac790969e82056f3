import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, onlyJson, usageJson, type RunResult } from './cli.js'

const ADMIN = {
  email: 'bob@acme.example',
  password: 'tr0ub4dor & 3',
  name: 'Bob Jones',
  organisation: 'Acme IT',
}

let world: CliWorld
let url: string

beforeAll(async () => {
  world = new CliWorld()
  const gateway = await world.startServer()
  url = gateway.url
  await world.initAdmin(gateway.dataDir, ADMIN)
  await world.login(url, ADMIN)
})

afterAll(() => world?.dispose())

/** A user's mistake is a message and a next step on stderr: never a stack trace, never stdout. */
function expectCleanMessage(result: RunResult, ...mentions: RegExp[]): void {
  expect(result.stdout).toBe('')
  expect(result.stderr).not.toContain('    at ')
  for (const mention of mentions) expect(result.stderr).toMatch(mention)
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('what a user sees when something is wrong', () => {
  it('a wrong PIN: host exits pinInvalid, with the JSON error envelope under --json and a plain message without', async () => {
    const json = await world.run(['host', '--server', url, '--pin', '000000', '--json'])
    expect(json.exitCode).toBe(ExitCode.pinInvalid)
    expect(onlyJson(json)).toEqual({
      error: {
        code: 'pinInvalid',
        message: expect.any(String),
        hint: expect.any(String),
        exitCode: ExitCode.pinInvalid,
      },
    })

    const human = await world.run(['host', '--server', url, '--pin', '000000'])
    expect(human.exitCode).toBe(ExitCode.pinInvalid)
    expectCleanMessage(human, /PIN/)
  })

  it('a PIN that already paired a session is refused to both sides with pinUsed', async () => {
    const { pin } = await world.newPin()
    const host = world.host(url, pin)
    const technician = world.connect(pin)
    await Promise.all([host.waitForEvent('paired'), technician.waitForEvent('paired')])
    technician.kill('SIGINT')
    await Promise.all([host.waitForExit(), technician.waitForExit()])

    const again = await world.run(['host', '--server', url, '--pin', pin, '--json'])
    expect(again.exitCode).toBe(ExitCode.pinUsed)
    expect(onlyJson(again)).toMatchObject({ error: { code: 'pinUsed', exitCode: ExitCode.pinUsed } })

    const technicianAgain = await world.run(['connect', '--pin', pin])
    expect(technicianAgain.exitCode).toBe(ExitCode.pinUsed)
    expectCleanMessage(technicianAgain, /PIN/)
  })

  it('connect without a login exits notLoggedIn and says to run rescue login', async () => {
    const nobody = { XDG_CONFIG_HOME: world.dir('empty-config') }
    const human = await world.run(['connect', '--pin', '123456'], { env: nobody })
    expect(human.exitCode).toBe(ExitCode.notLoggedIn)
    expectCleanMessage(human, /rescue login/)

    const json = await world.run(['connect', '--pin', '123456', '--json'], { env: nobody })
    expect(json.exitCode).toBe(ExitCode.notLoggedIn)
    expect(onlyJson(json)).toMatchObject({
      error: { code: 'notLoggedIn', hint: expect.stringContaining('rescue login') },
    })
  })

  it('a gateway that is not there: host exits gatewayUnreachable and names the address', async () => {
    const nowhere = `http://127.0.0.1:${await closedPort()}`
    const result = await world.run(['host', '--server', nowhere, '--pin', '123456'])
    expect(result.exitCode).toBe(ExitCode.gatewayUnreachable)
    expectCleanMessage(result, new RegExp(nowhere.replaceAll('.', '\\.')))
  })

  it('the server refuses a non-loopback address without TLS, naming TLS and --insecure, before listening', async () => {
    const args = ['server', '--data', world.dir('refused'), '--host', '0.0.0.0', '--port', '0']
    const human = await world.run(args)
    expect(human.timedOut).toBe(false)
    expect(human.exitCode).toBe(ExitCode.usage)
    expectCleanMessage(human, /TLS/, /--insecure/)

    const json = await world.run([...args, '--json'])
    expect(json.exitCode).toBe(ExitCode.usage)
    const { error } = usageJson(json) as { error: { code: string; message: string; hint: string } }
    expect(error.code).toBe('usage')
    expect(`${error.message} ${error.hint}`).toMatch(/TLS[\s\S]*--insecure/)
  })
})
