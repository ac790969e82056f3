/**
 * Two gateways over one PostgreSQL database, through the built CLI as an operator runs them: the
 * database URL only in RESCUE_DATABASE_URL (never argv), the first gateway's secret.key copied to
 * the second. An account and a PIN made through one serve on the other. Runs only where
 * RESCUE_TEST_PG_URL names a server; without it, skipped with a message.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SECRET_KEY_FILE } from '../../src/core/store/secret-key.js'
import { freshPostgresSchema, PG_SKIP_MESSAGE, TEST_PG_URL, type TestDatabase } from '../helpers/postgres.js'
import { CliWorld, onlyJson } from './cli.js'

if (!TEST_PG_URL) console.log(PG_SKIP_MESSAGE)

const ADMIN = {
  email: 'alice@acme.example',
  password: 'correct horse battery staple',
  name: 'Alice Smith',
  organisation: 'Acme IT',
}

let world: CliWorld
let database: TestDatabase | undefined

beforeAll(async () => {
  world = new CliWorld()
  if (TEST_PG_URL) database = await freshPostgresSchema()
})

afterAll(async () => {
  await world?.dispose()
  await database?.drop()
})

describe.skipIf(!TEST_PG_URL)('rescue server on PostgreSQL', () => {
  it('runs two gateways on one database: admin init, login and a PIN on one, a session on the other', async () => {
    const env = { RESCUE_DATABASE_URL: database!.url }
    const keysA = world.dir('keys-a')
    const init = await world.run(
      ['admin', 'init', '--data', keysA, '--email', ADMIN.email, '--name', ADMIN.name, '--password-stdin'],
      { input: ADMIN.password, env },
    )
    expect(init.exitCode, init.stderr).toBe(0)
    expect(init.stdout).toContain(`in postgres://`)
    expect(init.command).not.toContain('postgres://')

    // The second gateway gets the first one's key, as the docs tell the operator to do.
    const keysB = world.dir('keys-b')
    fs.copyFileSync(path.join(keysA, SECRET_KEY_FILE), path.join(keysB, SECRET_KEY_FILE))
    const serve = (data: string) =>
      world.spawn('server', ['server', '--data', data, '--port', '0', '--json'], { env })
    const urlOf = async (server: ReturnType<typeof serve>) =>
      (JSON.parse(await server.waitForLine('url', (line) => line.startsWith('{'))) as { url: string }).url
    const [a, b] = [serve(keysA), serve(keysB)]
    const [urlA, urlB] = [await urlOf(a), await urlOf(b)]
    // Neither gateway wrote a database file: the data is in PostgreSQL.
    expect(fs.readdirSync(keysA)).not.toContain('rescue.db')

    // The account and the PIN come from gateway A; the session runs on gateway B.
    await world.login(urlA, ADMIN)
    const pinRun = await world.run(['pin', '--json'])
    expect(pinRun.exitCode, pinRun.stderr).toBe(0)
    const pin = onlyJson(pinRun).pin as string
    await world.login(urlB, ADMIN)
    const host = world.spawn('host', [
      'host',
      '--server',
      urlB,
      '--pin',
      pin,
      '--auto-approve',
      'exec',
      '--trust-gateway',
      '--json',
    ])
    await host.waitForEvent('waiting')
    const connect = await world.run(['connect', '--server', urlB, '--pin', pin, '--exec', 'echo on-b'], {
      timeoutMs: 30_000,
    })
    expect(connect.stderr).not.toContain('Error')
    expect(connect.stdout.trim()).toBe('on-b')
    expect(connect.exitCode).toBe(0)

    // A gateway with another key is refused at once, and says what to copy.
    const stranger = await world.run(['server', '--data', world.dir('keys-c'), '--port', '0'], { env })
    expect(stranger.exitCode).not.toBe(0)
    expect(stranger.stderr).toContain("this gateway's secret key is not the one the database was set up with")
  })

  it('runs three gateways as one service: the one holding a live session is killed, and the session resumes through another', async () => {
    const schema = await freshPostgresSchema()
    // As docs/gateways.md tells an operator: one database, one secret key, one session log key.
    const env = {
      RESCUE_DATABASE_URL: schema.url,
      RESCUE_SECRET_KEY: randomBytes(32).toString('base64'),
      RESCUE_LOG_KEY: randomBytes(32).toString('base64'),
    }
    try {
      const keys = world.dir('keys-cluster')
      const init = await world.run(
        ['admin', 'init', '--data', keys, '--email', ADMIN.email, '--name', ADMIN.name, '--password-stdin'],
        { input: ADMIN.password, env },
      )
      expect(init.exitCode, init.stderr).toBe(0)
      const gateways = [1, 2, 3].map((index) =>
        world.spawn(
          `server-${index}`,
          ['server', '--data', world.dir(`cluster-${index}`), '--port', '0', '--heartbeat-ms', '500'],
          { env },
        ),
      )
      const urls: string[] = []
      for (const gateway of gateways) {
        const line = await gateway.waitForLine('listening', (text) => text.includes('listening on '))
        urls.push(/listening on (\S+)/.exec(line)![1]!)
      }
      // Clients know the service by its three addresses, and use the first that answers.
      const service = urls.join(',')
      await world.login(service, ADMIN)
      const pinRun = await world.run(['pin', '--json'])
      expect(pinRun.exitCode, pinRun.stderr).toBe(0)
      const pin = onlyJson(pinRun).pin as string
      const clientEnv = { RESCUE_RESUME_GRACE: '30s' }
      const host = world.track(
        world.spawn(
          'host',
          ['host', '--server', service, '--pin', pin, '--json', '--auto-approve', 'exec', '--trust-gateway'],
          { env: { ...clientEnv, SHELL: '/bin/sh', HOME: world.dir('cluster-home') } },
        ),
      )
      await host.waitForEvent('waiting')
      const technician = world.track(
        world.spawn(
          'connect',
          ['connect', '--pin', pin, '--json', '--exec', 'echo "first $$"; sleep 5; echo "second $$"'],
          { env: clientEnv },
        ),
      )
      const first = await technician.waitForLine('the first line', (line) => line.startsWith('first '))
      // The first gateway holds the session: both sides reached it first.
      await gateways[0]!.waitForLine('paired on the first gateway', (line) => line.includes(': paired ('))

      gateways[0]!.kill('SIGKILL')
      await host.waitForEvent('link-restored', 15_000)
      const second = await technician.waitForLine(
        'the second line',
        (line) => line.startsWith('second '),
        30_000,
      )
      // The same shell process printed both lines: the command went on through the kill.
      expect(second.split(' ')[1]).toBe(first.split(' ')[1])
      expect(await technician.waitForExit(30_000)).toEqual({ exitCode: 0, signal: undefined })
      const tookOver = [gateways[1]!, gateways[2]!].some((gateway) =>
        gateway.stdout.includes('taken over from gateway'),
      )
      expect(tookOver, 'another gateway says it took the session over').toBe(true)
    } finally {
      await schema.drop()
    }
  })
})
