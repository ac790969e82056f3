import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, type CliProcess, type JsonLine } from './cli.js'

const ADMIN = {
  email: 'alice@acme.example',
  password: 'correct horse battery staple',
  name: 'Alice Smith',
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

/**
 * A fresh PIN and both sides on it; resolves once both have paired. With `hostFirst`, the
 * technician starts only once the end user is waiting; otherwise both start at once.
 */
async function pairedSession({
  hostFirst = false,
  env,
}: { hostFirst?: boolean; env?: Record<string, string> } = {}) {
  const { pin } = await world.newPin()
  const host = world.track(world.host(url, pin, env ? { env } : {}))
  if (hostFirst) await host.waitForEvent('waiting')
  const technician = world.track(world.connect(pin, env ? { env } : {}))
  const [hostPaired, technicianPaired] = await Promise.all([
    host.waitForEvent('paired'),
    technician.waitForEvent('paired'),
  ])
  return { pin, host, technician, hostPaired, technicianPaired }
}

function endedEvents(child: CliProcess): JsonLine[] {
  return child.events.filter((line) => line.event === 'ended')
}

describe('a support session between two rescue processes', () => {
  it('pairs by PIN: both sides print the same three security words and who is on the other side', async () => {
    const { hostPaired, technicianPaired } = await pairedSession({ hostFirst: true })

    expect(hostPaired.sas).toBe(technicianPaired.sas)
    const words = String(hostPaired.sas).split(' ')
    expect(words).toHaveLength(3)
    for (const word of words) expect(word).toMatch(/^[a-z]+$/)
    expect(hostPaired).toMatchObject({ role: 'host', sessionId: technicianPaired.sessionId })
    expect(technicianPaired).toMatchObject({ role: 'technician' })

    // The end user learns who is connecting (the gateway vouches for the PIN's owner). The
    // technician learns nothing about the machine: the sealed hello names no user or host name.
    expect(hostPaired.technician).toEqual({
      name: ADMIN.name,
      email: ADMIN.email,
      organisation: ADMIN.organisation,
    })
    expect(technicianPaired.technician).toBeUndefined()
    expect(technicianPaired.host).toBeUndefined()
  })

  it.each([
    { signal: 'SIGINT', side: 'technician', code: 'interrupted' },
    { signal: 'SIGTERM', side: 'host', code: 'terminated' },
  ] as const)(
    '$signal on the $side ends the session for both: it exits as shells report the signal, the other side 0',
    async ({ signal, side, code }) => {
      const session = await pairedSession()
      session[side].kill(signal)
      const [hostExit, technicianExit] = await Promise.all([
        session.host.waitForExit(),
        session.technician.waitForExit(),
      ])

      for (const child of [session.host, session.technician]) {
        const ended = endedEvents(child)
        // Exactly one `ended`, as the last line, saying who ended it; an error code only on the side signalled.
        expect(ended, child.name).toHaveLength(1)
        expect(child.events.at(-1), child.name).toEqual(ended[0])
        expect(ended[0], child.name).toMatchObject({ event: 'ended', by: side })
        expect(ended[0]?.code, child.name).toBe(child === session[side] ? code : undefined)
      }
      const exits = { host: hostExit, technician: technicianExit }
      expect(exits[side]).toEqual({ exitCode: ExitCode[code], signal: undefined })
      expect(exits[side === 'host' ? 'technician' : 'host']).toEqual({
        exitCode: ExitCode.ok,
        signal: undefined,
      })
    },
  )

  it.each([
    { killed: 'host', survivor: 'technician' },
    { killed: 'technician', survivor: 'host' },
  ] as const)(
    'when the $killed vanishes (SIGKILL), the $survivor is told its link dropped, waits the grace period, and exits connectionLost',
    async ({ killed, survivor }) => {
      const session = await pairedSession({ env: { RESCUE_RESUME_GRACE: '2s' } })
      session[killed].kill('SIGKILL')
      const lost = await session[survivor].waitForEvent('link-lost')
      expect(lost).toMatchObject({ side: 'peer', graceMs: 2000 })
      const exit = await session[survivor].waitForExit()

      const ended = endedEvents(session[survivor])
      expect(ended).toHaveLength(1)
      const peer = killed === 'host' ? 'end user' : 'technician'
      expect(ended[0]).toMatchObject({
        event: 'ended',
        by: 'gateway',
        code: 'connectionLost',
        reason: `the ${peer}'s connection did not come back within 2 s`,
      })
      expect(exit).toEqual({ exitCode: ExitCode.connectionLost, signal: undefined })
    },
  )

  it('technician first: connect waits until the PIN expires, then pairs when the end user arrives', async () => {
    const { pin, expiresAt } = await world.newPin()
    const technician = world.track(world.connect(pin))
    const waiting = await technician.waitForEvent('waiting')
    expect(waiting).toMatchObject({ event: 'waiting', role: 'technician' })
    expect(Date.parse(String(waiting.expiresAt))).toBe(Date.parse(expiresAt))
    expect(technician.events.some((line) => line.event === 'paired')).toBe(false)

    const host = world.track(world.host(url, pin))
    const [technicianPaired, hostPaired] = await Promise.all([
      technician.waitForEvent('paired'),
      host.waitForEvent('paired'),
    ])
    expect(technicianPaired.sas).toBe(hostPaired.sas)
    expect(technicianPaired.sessionId).toBe(waiting.sessionId)
    expect(technician.exit).toBeUndefined()
  })

  it('without --json, both sides print the security words and the other side in plain sentences', async () => {
    const { pin } = await world.newPin()
    const host = world.track(world.host(url, pin, { json: false }))
    const technician = world.track(world.connect(pin, { json: false }))
    const securityWords = /security words: ([a-z]+ [a-z]+ [a-z]+)/
    const [hostLine, technicianLine] = await Promise.all([
      host.waitForLine('the security words', (line) => securityWords.test(line)),
      technician.waitForLine('the security words', (line) => securityWords.test(line)),
    ])

    expect(securityWords.exec(hostLine)?.[1]).toBe(securityWords.exec(technicianLine)?.[1])
    for (const fact of [ADMIN.name, ADMIN.email, ADMIN.organisation]) expect(host.stdout).toContain(fact)
    for (const child of [host, technician]) {
      expect(child.events, `${child.name} printed JSON without --json`).toEqual([])
    }

    technician.kill('SIGINT')
    expect(await host.waitForExit()).toEqual({ exitCode: ExitCode.ok, signal: undefined })
    expect(await technician.waitForExit()).toEqual({ exitCode: ExitCode.interrupted, signal: undefined })
  })
})
