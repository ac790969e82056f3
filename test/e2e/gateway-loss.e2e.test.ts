/**
 * A gateway lost under a live session, through the built CLI: killed outright and started again on
 * the same port and data (both sides come back with their resume proofs and the running command
 * goes on), and frozen until the grace period runs out (both sides end, saying so).
 */
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
let dataDir: string
let server: CliProcess | undefined

beforeAll(async () => {
  world = new CliWorld()
  // Short enough that a silent gateway is noticed within seconds, long enough that a busy test
  // machine still answers every ping in time.
  const gateway = await world.startServer({ heartbeatMs: 500 })
  ;({ url, server, dataDir } = gateway)
  await world.initAdmin(gateway.dataDir, ADMIN)
  await world.login(url, ADMIN)
})

afterAll(async () => {
  // A stopped process only acts on SIGTERM once continued.
  server?.kill('SIGCONT')
  await world?.dispose()
})

describe('a gateway killed and started again', () => {
  it('both sides resume through the new process, and a running command goes on to its end', async () => {
    const { pin } = await world.newPin()
    const env = { RESCUE_RESUME_GRACE: '30s' }
    const host = world.track(
      world.spawn(
        'host',
        ['host', '--server', url, '--pin', pin, '--json', '--auto-approve', 'exec', '--trust-gateway'],
        {
          env: { ...env, SHELL: '/bin/sh', HOME: world.dir('home') },
        },
      ),
    )
    await host.waitForEvent('waiting')
    const technician = world.track(
      world.spawn(
        'connect',
        ['connect', '--pin', pin, '--json', '--exec', 'echo "first $$"; sleep 4; echo "second $$"'],
        {
          env,
        },
      ),
    )
    const first = await technician.waitForLine('the first line', (line) => line.startsWith('first '))

    server!.kill('SIGKILL')
    await server!.waitForExit()
    const restarted = await world.startServer({ dataDir, heartbeatMs: 500, port: Number(new URL(url).port) })
    server = restarted.server

    const second = await technician.waitForLine(
      'the second line',
      (line) => line.startsWith('second '),
      30_000,
    )
    expect(second.split(' ')[1]).toBe(first.split(' ')[1])
    expect(await technician.waitForExit(30_000)).toEqual({ exitCode: 0, signal: undefined })
    const technicianEvents = jsonEvents(technician.stderr)
    expect(technicianEvents).toContain('link-lost')
    expect(technicianEvents).toContain('link-restored')
    await host.waitForEvent('link-restored')
    expect(host.events.find((event) => event.event === 'link-lost')).toMatchObject({ side: 'self' })
  })
})

describe('a gateway that stops answering', () => {
  it('both sides notice by its silence, try to come back, and end with connectionLost once the grace period is over', async () => {
    const { pin } = await world.newPin()
    const env = { RESCUE_RESUME_GRACE: '3s' }
    const host = world.host(url, pin, { env })
    const technician = world.connect(pin, { env })
    await Promise.all([host.waitForEvent('paired'), technician.waitForEvent('paired')])

    // Frozen, not killed: its sockets stay open, so only the heartbeat can tell.
    server!.kill('SIGSTOP')
    const exits = await Promise.all([host.waitForExit(), technician.waitForExit()])

    for (const child of [host, technician]) {
      expect(
        child.events.find((line) => line.event === 'link-lost'),
        child.name,
      ).toMatchObject({ side: 'self' })
      const ended = child.events.filter((line) => line.event === 'ended')
      expect(ended, child.name).toHaveLength(1)
      expect(ended[0], child.name).toMatchObject({
        by: 'gateway',
        code: 'connectionLost',
        reason: 'the connection did not come back within 3 s',
      })
    }
    expect(exits).toEqual([
      { exitCode: ExitCode.connectionLost, signal: undefined },
      { exitCode: ExitCode.connectionLost, signal: undefined },
    ])
  })
})

/** The event names among the JSON lines of `text` (connect --exec prints its events on stderr). */
function jsonEvents(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => (JSON.parse(line) as { event?: string }).event ?? '')
}
