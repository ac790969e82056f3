import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, onlyJson } from './cli.js'

const ADMIN = {
  email: 'carol@acme.example',
  password: 'a long passphrase nobody guesses',
  name: 'Carol King',
  organisation: 'Acme IT',
}

let world: CliWorld
let url: string
let dataDir: string

beforeAll(async () => {
  world = new CliWorld()
  ;({ url, dataDir } = await world.startServer())
  await world.initAdmin(dataDir, ADMIN)
})

afterAll(() => world?.dispose())

const mode = (file: string) => fs.statSync(file).mode & 0o777

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => path.join(dir, name))
    .filter((file) => fs.statSync(file).isFile())
}

describe('logging in without a keychain', () => {
  it('keeps the token in a 0600 file under XDG_CONFIG_HOME/rescue; the password is never in argv or on disk', async () => {
    const { command, json } = await world.login(url, ADMIN)
    expect(command).not.toContain(ADMIN.password)
    expect(json).toMatchObject({
      tokenStore: 'file',
      server: url,
      user: { email: ADMIN.email, name: ADMIN.name, organisation: ADMIN.organisation },
    })

    const tokenFile = path.join(world.configDir, 'tokens.json')
    expect(mode(world.configDir)).toBe(0o700)
    expect(mode(tokenFile)).toBe(0o600)
    const tokens = JSON.parse(fs.readFileSync(tokenFile, 'utf8')) as Record<string, string>
    expect(Object.keys(tokens)).toEqual([url])
    expect(tokens[url]).toMatch(/\S{16,}/)
    for (const file of filesUnder(world.root)) {
      if (file.startsWith(dataDir)) continue // the gateway's database holds a hash, not the password
      expect(fs.readFileSync(file, 'utf8'), file).not.toContain(ADMIN.password)
    }

    // The saved login is what pin uses: no --server, no token in the environment.
    const pin = await world.run(['pin', '--json'])
    expect(pin.exitCode).toBe(ExitCode.ok)
    expect(onlyJson(pin)).toMatchObject({ pin: expect.stringMatching(/^\d{6}$/), server: url })
  })

  it('a wrong password exits authFailed and saves nothing', async () => {
    const elsewhere = { XDG_CONFIG_HOME: world.dir('wrong-password') }
    const result = await world.run(
      ['login', '--server', url, '--email', ADMIN.email, '--password-stdin', '--json'],
      { input: 'not the password', env: elsewhere },
    )
    expect(result.exitCode).toBe(ExitCode.authFailed)
    expect(onlyJson(result)).toMatchObject({ error: { code: 'authFailed' } })
    expect(fs.readdirSync(elsewhere.XDG_CONFIG_HOME)).toEqual([])
  })

  it('with no terminal and no --password-stdin, login fails at once and names --password-stdin', async () => {
    const result = await world.run(['login', '--server', url, '--email', ADMIN.email], {
      env: { XDG_CONFIG_HOME: world.dir('no-tty') },
    })
    expect(result.timedOut).toBe(false)
    expect(result.exitCode).toBe(ExitCode.usage)
    expect(result.stderr).toContain('--password-stdin')
    expect(result.stderr).not.toContain('    at ')
  })

  it('logout revokes the token on the gateway and forgets it here', async () => {
    await world.login(url, ADMIN)
    const tokenFile = path.join(world.configDir, 'tokens.json')
    const token = (JSON.parse(fs.readFileSync(tokenFile, 'utf8')) as Record<string, string>)[url]!
    const logout = await world.run(['logout', '--json'])
    expect(logout.exitCode).toBe(ExitCode.ok)
    expect(onlyJson(logout)).toEqual({ server: url, revoked: true })
    expect(fs.readFileSync(tokenFile, 'utf8')).not.toContain(token)

    const pin = await world.run(['pin', '--json'])
    expect(pin.exitCode).toBe(ExitCode.notLoggedIn)
    expect(onlyJson(pin)).toMatchObject({ error: { code: 'notLoggedIn' } })
    // A copy of the old token (say, in a script's RESCUE_TOKEN) no longer works either.
    const stale = await world.run(['pin', '--server', url, '--json'], { env: { RESCUE_TOKEN: token } })
    expect(stale.exitCode).toBe(ExitCode.notLoggedIn)
  })
})
