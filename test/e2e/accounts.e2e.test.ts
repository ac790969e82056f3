/**
 * Accounts through the built CLI against a real `rescue server`: an admin makes a group and a
 * technician; the technician's first login changes the one-time password; 5 wrong passwords lock
 * the account until `admin users unlock`; a 127.0.0.1/32 allow-list refuses a client bound to
 * 127.0.0.2; an idle timeout logs out; TOTP is enrolled on a terminal (URI and QR code) and then
 * required, a used code refused; script tokens work until revoked; `admin audit` lists all of it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { totpCode } from '../../src/core/accounts/totp.js'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, onlyJson, usageJson, type RunResult } from './cli.js'

const ADMIN = {
  email: 'erin@acme.example',
  password: 'a long and winding passphrase',
  name: 'Erin Admin',
  organisation: 'Acme IT',
}
const BOB = 'bob@acme.example'
const BOB_PASSWORD = 'seven green bottles on the wall'

let world: CliWorld
let url: string
let bobEnv: Record<string, string>
let oneTimePassword: string
let totpSecret = ''

const admin = (...args: string[]) => world.run(['admin', ...args])

function ok(result: RunResult): RunResult {
  expect(result.exitCode, `${result.command}\n${result.stdout}\n${result.stderr}`).toBe(ExitCode.ok)
  return result
}

/** Bob's `rescue login --password-stdin --json`, with `lines` on stdin. */
const bobLogin = (lines: string[], env: Record<string, string> = {}) =>
  world.run(['login', '--server', url, '--email', BOB, '--password-stdin', '--json'], {
    input: `${lines.join('\n')}\n`,
    env: { ...bobEnv, ...env },
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
  bobEnv = { XDG_CONFIG_HOME: world.dir('bob-config') }
  ok(await admin('groups', 'add', 'helpdesk'))
  ok(await admin('groups', 'set', 'helpdesk', '--allow', 'shell,sysinfo,private', '--deny', 'exec'))
  const added = onlyJson(ok(await admin('users', 'add', BOB, '--group', 'helpdesk', '--json')))
  oneTimePassword = added.oneTimePassword as string
})

afterEach(() => world?.stopTracked())
afterAll(() => world?.dispose())

describe('technician accounts through the CLI', () => {
  it('the first login reads the one-time password and then the new one from stdin, never from argv', async () => {
    const first = await bobLogin([oneTimePassword, BOB_PASSWORD])
    ok(first)
    expect(onlyJson(first)).toMatchObject({ user: { email: BOB }, tokenStore: 'file' })
    expect(first.stderr).toMatch(/first login/)
    expect(first.command).not.toContain(oneTimePassword)
    expect(first.command).not.toContain(BOB_PASSWORD)
    // A weak new password is refused and named.
    const reset = onlyJson(ok(await admin('users', 'reset-password', BOB, '--json')))
    const weak = await bobLogin([reset.oneTimePassword as string, 'password1234'])
    expect(weak.exitCode).toBe(ExitCode.usage)
    expect(usageJson(weak)).toMatchObject({
      error: { code: 'usage', message: expect.stringMatching(/too weak/) },
    })
    ok(await bobLogin([reset.oneTimePassword as string, BOB_PASSWORD]))
  })

  it('locks the account after 5 wrong passwords, with its own exit code, until an admin unlocks it', async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      expect((await bobLogin(['not my password at all'])).exitCode).toBe(ExitCode.authFailed)
    }
    const locked = await bobLogin([BOB_PASSWORD])
    expect(locked.exitCode).toBe(ExitCode.locked)
    expect(onlyJson(locked)).toMatchObject({
      error: { code: 'locked', hint: expect.stringContaining(`rescue admin users unlock ${BOB}`) },
    })
    const listed = onlyJson(ok(await admin('users', 'list', '--json'))) as {
      users: { email: string; lockedUntil?: string }[]
    }
    expect(listed.users.find((user) => user.email === BOB)?.lockedUntil).toEqual(expect.any(String))
    expect(ok(await admin('users', 'list')).stdout).toMatch(/bob@acme\.example .*locked until/)

    ok(await admin('users', 'unlock', BOB))
    ok(await bobLogin([BOB_PASSWORD]))
  })

  it('refuses a login from 127.0.0.2 when the allow-list holds only 127.0.0.1/32, and calls from there too', async () => {
    ok(await admin('groups', 'set', 'helpdesk', '--ip-allow', '127.0.0.1/32'))
    const refused = await bobLogin([BOB_PASSWORD], { RESCUE_BIND_ADDRESS: '127.0.0.2' })
    expect(refused.exitCode).toBe(ExitCode.forbidden)
    expect(onlyJson(refused)).toMatchObject({
      error: { code: 'forbidden', message: expect.stringContaining('127.0.0.2') },
    })
    ok(await bobLogin([BOB_PASSWORD], { RESCUE_BIND_ADDRESS: '127.0.0.1' }))
    ok(await world.run(['pin', '--json'], { env: bobEnv }))
    const pin = await world.run(['pin', '--json'], { env: { ...bobEnv, RESCUE_BIND_ADDRESS: '127.0.0.2' } })
    expect(pin.exitCode).toBe(ExitCode.forbidden)
    ok(await admin('groups', 'set', 'helpdesk', '--ip-allow-any'))
  })

  it('logs out a technician idle for longer than the group allows', async () => {
    ok(await admin('groups', 'set', 'helpdesk', '--idle-timeout', '4s'))
    ok(await bobLogin([BOB_PASSWORD]))
    ok(await world.run(['pin', '--json'], { env: bobEnv }))
    await sleep(5000)
    const idle = await world.run(['pin'], { env: bobEnv })
    expect(idle.exitCode).toBe(ExitCode.notLoggedIn)
    expect(idle.stderr).toContain('logged out after 4 s idle')
    expect(idle.stderr).toContain('rescue login')
    ok(await admin('groups', 'set', 'helpdesk', '--idle-timeout', 'off'))
  })

  it('enrols TOTP on a terminal with an otpauth URI and a QR code, then requires a fresh code', async () => {
    ok(await admin('groups', 'set', 'helpdesk', '--require-2fa'))
    const login = world.track(
      await world.spawnPty('login', ['login', '--server', url, '--email', BOB], { env: bobEnv }),
    )
    let mark = (await login.waitFor('Password for')).end
    login.write(`${BOB_PASSWORD}\r`)
    totpSecret = (await login.waitFor(/otpauth:\/\/totp\/\S*secret=([A-Z2-7]+)/, { from: mark })).text
    expect(login.output).toContain('█') // the QR code, drawn in block characters
    mark = (await login.waitFor('Code from your authenticator app', { from: mark })).end
    login.write(`${totpCode(totpSecret)}\r`)
    await login.waitFor('logged in to', { from: mark })
    expect(await login.waitForExit()).toMatchObject({ exitCode: ExitCode.ok })

    expect((await bobLogin([BOB_PASSWORD, '000000'])).exitCode).toBe(ExitCode.authFailed)
    const missing = await bobLogin([BOB_PASSWORD])
    expect(missing.exitCode).toBe(ExitCode.usage)
    expect(usageJson(missing)).toMatchObject({ error: { message: expect.stringMatching(/TOTP code/) } })
    // The next step's code (a step early is allowed for drift) works once, then is spent.
    const next = totpCode(totpSecret, Date.now() + 30_000)
    ok(await bobLogin([BOB_PASSWORD, next]))
    const replayed = await bobLogin([BOB_PASSWORD, next])
    expect(replayed.exitCode).toBe(ExitCode.authFailed)
    expect(onlyJson(replayed)).toMatchObject({ error: { message: expect.stringMatching(/already used/) } })
  })

  it("makes a script token with the group's permissions, shown once, that stops when revoked", async () => {
    const created = onlyJson(
      ok(await admin('tokens', 'create', '--name', 'ci', '--group', 'helpdesk', '--ttl', '30d', '--json')),
    )
    const token = created.token as string
    ok(
      await world.run(['pin', '--server', url, '--json'], {
        env: { RESCUE_TOKEN: token, XDG_CONFIG_HOME: world.dir('ci') },
      }),
    )
    const listed = ok(await admin('tokens', 'list'))
    expect(listed.stdout).toMatch(/^ci +helpdesk/m)
    expect(listed.stdout).not.toContain(token)
    ok(await admin('tokens', 'revoke', 'ci'))
    const revoked = await world.run(['pin', '--server', url, '--json'], {
      env: { RESCUE_TOKEN: token, XDG_CONFIG_HOME: world.dir('ci-after') },
    })
    expect(revoked.exitCode).toBe(ExitCode.notLoggedIn)
  })

  it('rescue admin audit lists every login, lock, refusal, idle logout and admin action, and no secret', async () => {
    const json = onlyJson(ok(await admin('audit', '--limit', '1000', '--json'))) as {
      entries: { actor: string; action: string; target?: string; address?: string }[]
    }
    const about = (target: string) =>
      json.entries.filter((entry) => entry.target === target).map((entry) => entry.action)
    expect(about(BOB)).toEqual(
      expect.arrayContaining([
        'users.add',
        'login.password-changed',
        'users.reset-password',
        'login.failure',
        'login.locked',
        'users.unlock',
        'login.refused',
        'access.refused',
        'logout.idle',
        'login.totp-enrolment',
        'login.totp-enrolled',
        'login.success',
      ]),
    )
    expect(about(BOB).filter((action) => action === 'login.failure').length).toBeGreaterThanOrEqual(7)
    expect(about('helpdesk')).toEqual(['groups.add', ...Array(6).fill('groups.set')])
    expect(about('token:ci')).toEqual(['tokens.create', 'tokens.revoke'])
    expect(json.entries.find((entry) => entry.action === 'login.refused')?.address).toBe('127.0.0.2')
    expect(json.entries.find((entry) => entry.action === 'users.unlock')?.actor).toBe(ADMIN.email)

    const human = ok(await admin('audit', '--limit', '1000'))
    expect(human.stdout).toMatch(/^AT +ACTOR +ACTION +TARGET +FROM +DETAILS$/m)
    expect(human.stdout).toMatch(/ login\.locked +bob@acme\.example +127\.0\.0\.1 /)
    expect(human.stdout).toMatch(/ logout\.idle +bob@acme\.example /)
    for (const output of [human.stdout, JSON.stringify(json)]) {
      for (const secret of [BOB_PASSWORD, oneTimePassword, ADMIN.password, totpSecret]) {
        expect(output).not.toContain(secret)
      }
    }
  })

  it('refuses every admin command to a technician with exit code forbidden', async () => {
    const refused = await world.run(['admin', 'users', 'list', '--json'], { env: bobEnv })
    expect(refused.exitCode).toBe(ExitCode.forbidden)
    const audit = await world.run(['admin', 'audit'], { env: bobEnv })
    expect(audit.exitCode).toBe(ExitCode.forbidden)
    expect(audit.stderr).toMatch(/you may not read the audit trail/)
  })
})
