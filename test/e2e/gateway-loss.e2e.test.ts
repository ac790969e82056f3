import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, type CliProcess } from './cli.js'

const ADMIN = {
  email: 'dave@acme.example',
  password: 'correct horse battery staple',
  name: 'Dave Lee',
  organisation: 'Acme IT',
}

let world: CliWorld
let url: string
let server: CliProcess | undefined

beforeAll(async () => {
  world = new CliWorld()
  // Short enough that a silent gateway is noticed within seconds, long enough that a busy test
  // machine still answers every ping in time.
  const gateway = await world.startServer({ heartbeatMs: 500 })
  ;({ url, server } = gateway)
  await world.initAdmin(gateway.dataDir, ADMIN)
  await world.login(url, ADMIN)
})

afterAll(async () => {
  // A stopped process only acts on SIGTERM once continued.
  server?.kill('SIGCONT')
  await world?.dispose()
})

describe('a gateway that stops answering', () => {
  it('both sides notice by its silence, print ended by gateway with connectionLost, and exit with that code', async () => {
    const { pin } = await world.newPin()
    const host = world.host(url, pin)
    const technician = world.connect(pin)
    await Promise.all([host.waitForEvent('paired'), technician.waitForEvent('paired')])

    // Frozen, not killed: its sockets stay open, so only the heartbeat can tell.
    server!.kill('SIGSTOP')
    const exits = await Promise.all([host.waitForExit(), technician.waitForExit()])

    for (const child of [host, technician]) {
      const ended = child.events.filter((line) => line.event === 'ended')
      expect(ended, child.name).toHaveLength(1)
      expect(ended[0], child.name).toMatchObject({ by: 'gateway', code: 'connectionLost' })
    }
    expect(exits).toEqual([
      { exitCode: ExitCode.connectionLost, signal: undefined },
      { exitCode: ExitCode.connectionLost, signal: undefined },
    ])
  })
})
