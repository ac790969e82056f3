/**
 * Accounts against a real gateway on 127.0.0.1:0 and a real SQLite file: lockout and unlock, TOTP
 * enrolment and replay, the IP allow-list at login and on every call (a second client address by
 * binding 127.0.0.2, which Linux routes to loopback), the idle timeout, roles on every admin route,
 * script tokens, the PIN permission, and the audit trail recording all of it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { effectivePolicy } from '../src/core/accounts/policy.js'
import { totpCode } from '../src/core/accounts/totp.js'
import { api, openGatewaySocket } from '../src/core/client/index.js'
import { UserError, type ErrorCode } from '../src/core/errors.js'
import { startTestGateway, ADMIN, type TestGateway } from './helpers/gateway.js'

let gw: TestGateway | undefined
afterEach(async () => {
  delete process.env.RESCUE_BIND_ADDRESS
  await gw?.close()
  gw = undefined
})

const NEW_PASSWORD = 'seven green bottles on the wall'

async function refusal(promise: Promise<unknown>, code: ErrorCode): Promise<UserError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(UserError)
  expect((error as UserError).code, (error as Error).message).toBe(code)
  return error as UserError
}

/** Runs `work` with the client bound to `address` (RESCUE_BIND_ADDRESS, read on each request). */
async function from<T>(address: string, work: () => Promise<T>): Promise<T> {
  process.env.RESCUE_BIND_ADDRESS = address
  try {
    return await work()
  } finally {
    delete process.env.RESCUE_BIND_ADDRESS
  }
}

/** A gateway with a group "helpdesk" set as given, and bob in it, logged in once (his own password). */
async function withBob(settings: Parameters<typeof api.admin.setGroup>[3] = {}, gatewayOptions = {}) {
  gw = await startTestGateway(gatewayOptions)
  const { url, token } = gw
  await api.admin.addGroup(url, token, 'helpdesk')
  await api.admin.setGroup(url, token, 'helpdesk', { allow: ['shell', 'private'], ...settings })
  const { oneTimePassword } = await api.admin.addUser(url, token, {
    email: 'bob@acme.example',
    groups: ['helpdesk'],
  })
  return { url, token, oneTimePassword }
}

async function auditActions(target?: string): Promise<string[]> {
  const { entries } = await api.admin.audit(gw!.url, gw!.token, 1000)
  return entries.filter((entry) => !target || entry.target === target).map((entry) => entry.action)
}

describe('first login and the password policy', () => {
  it('makes the first login with a one-time password choose a strong new one, and only once', async () => {
    const { url, oneTimePassword } = await withBob()
    expect(oneTimePassword).toMatch(/^[\w-]{23}$/)
    const first = await api.login(url, { email: 'bob@acme.example', password: oneTimePassword })
    expect(first).toEqual({ needs: ['new-password'], passwordReason: 'first-login' })
    await refusal(
      api.login(url, { email: 'bob@acme.example', password: oneTimePassword, newPassword: 'password1234' }),
      'usage',
    )
    const done = await api.login(url, {
      email: 'bob@acme.example',
      password: oneTimePassword,
      newPassword: NEW_PASSWORD,
    })
    expect(done).toMatchObject({ token: expect.any(String), user: { email: 'bob@acme.example' } })
    await refusal(api.login(url, { email: 'bob@acme.example', password: oneTimePassword }), 'authFailed')
    expect(await api.login(url, { email: 'bob@acme.example', password: NEW_PASSWORD })).toHaveProperty(
      'token',
    )
    expect(await auditActions('bob@acme.example')).toContain('login.password-changed')
  })

  it('forces a change when the password is older than the maximum age', async () => {
    const { url, oneTimePassword } = await withBob({}, { login: { passwordMaxAgeMs: 60_000 } })
    await api.login(url, { email: 'bob@acme.example', password: oneTimePassword, newPassword: NEW_PASSWORD })
    await gw!.store.db
      .updateTable('users')
      .set({ password_changed_at: new Date(Date.now() - 120_000).toISOString() })
      .where('email', '=', 'bob@acme.example')
      .execute()
    expect(await api.login(url, { email: 'bob@acme.example', password: NEW_PASSWORD })).toEqual({
      needs: ['new-password'],
      passwordReason: 'expired',
    })
    await refusal(
      api.login(url, { email: 'bob@acme.example', password: NEW_PASSWORD, newPassword: NEW_PASSWORD }),
      'usage',
    )
  })
})

describe('lockout', () => {
  it('locks after 5 wrong passwords, even for the right one, audits it all, and unlocks on an admin word', async () => {
    const { url, token, oneTimePassword } = await withBob()
    await api.login(url, { email: 'bob@acme.example', password: oneTimePassword, newPassword: NEW_PASSWORD })
    for (let attempt = 0; attempt < 5; attempt++) {
      await refusal(api.login(url, { email: 'bob@acme.example', password: 'not my password' }), 'authFailed')
    }
    const locked = await refusal(
      api.login(url, { email: 'bob@acme.example', password: NEW_PASSWORD }),
      'locked',
    )
    expect(locked.message).toMatch(/locked/)
    expect(locked.hint).toContain('rescue admin users unlock bob@acme.example')
    expect(locked.exitCode).toBe(16)

    const { users } = await api.admin.listUsers(url, token)
    expect(users.find((user) => user.email === 'bob@acme.example')).toMatchObject({
      lockedUntil: expect.any(String),
      failedLogins: 5,
    })
    await api.admin.unlockUser(url, token, 'bob@acme.example')
    expect(await api.login(url, { email: 'bob@acme.example', password: NEW_PASSWORD })).toHaveProperty(
      'token',
    )

    const actions = await auditActions('bob@acme.example')
    expect(actions.filter((action) => action === 'login.failure')).toHaveLength(5)
    expect(actions).toEqual(expect.arrayContaining(['login.locked', 'users.unlock', 'login.success']))
  })

  it('gives attempts sent in parallel no more than 5 answers before the lock', async () => {
    const { url, oneTimePassword } = await withBob()
    await api.login(url, { email: 'bob@acme.example', password: oneTimePassword, newPassword: NEW_PASSWORD })
    const guesses = await Promise.allSettled(
      Array.from({ length: 12 }, (_, index) =>
        api.login(url, {
          email: 'bob@acme.example',
          password: index === 11 ? NEW_PASSWORD : `guess number ${index}`,
        }),
      ),
    )
    const codes = guesses.map((result) =>
      result.status === 'rejected' ? (result.reason as UserError).code : 'ok',
    )
    expect(codes.filter((code) => code === 'authFailed').length).toBeLessThanOrEqual(5)
    expect(codes.filter((code) => code === 'locked').length).toBeGreaterThanOrEqual(6)
    await refusal(api.login(url, { email: 'bob@acme.example', password: NEW_PASSWORD }), 'locked')
  })

  it('ends a lock by itself after the configured time', async () => {
    const { url, oneTimePassword } = await withBob(
      {},
      // Long enough that a loaded machine's scrypt checks all fall inside it.
      { login: { lockout: { maxFailures: 5, lockoutMs: 3000 } } },
    )
    await api.login(url, { email: 'bob@acme.example', password: oneTimePassword, newPassword: NEW_PASSWORD })
    for (let attempt = 0; attempt < 5; attempt++) {
      await refusal(api.login(url, { email: 'bob@acme.example', password: 'not my password' }), 'authFailed')
    }
    await refusal(api.login(url, { email: 'bob@acme.example', password: NEW_PASSWORD }), 'locked')
    await new Promise((resolve) => setTimeout(resolve, 3100))
    expect(await api.login(url, { email: 'bob@acme.example', password: NEW_PASSWORD })).toHaveProperty(
      'token',
    )
  })

  it('answers an unknown email exactly as a wrong password, locks included', async () => {
    gw = await startTestGateway()
    const unknown = await refusal(
      api.login(gw.url, { email: 'nobody@acme.example', password: 'whatever it is' }),
      'authFailed',
    )
    const wrong = await refusal(
      api.login(gw.url, { email: ADMIN.email, password: 'whatever it is' }),
      'authFailed',
    )
    expect(unknown.message).toBe(wrong.message)
    expect(unknown.hint).toBe(wrong.hint)
    for (let attempt = 0; attempt < 4; attempt++) {
      for (const email of ['nobody@acme.example', ADMIN.email]) {
        await refusal(api.login(gw.url, { email, password: 'whatever it is' }), 'authFailed')
      }
    }
    const lockedUnknown = await refusal(
      api.login(gw.url, { email: 'nobody@acme.example', password: 'x' }),
      'locked',
    )
    const lockedReal = await refusal(
      api.login(gw.url, { email: ADMIN.email, password: ADMIN.password }),
      'locked',
    )
    expect(lockedUnknown.message.replace('nobody', 'X').replace(/until \S+/, '')).toBe(
      lockedReal.message.replace('alice', 'X').replace(/until \S+/, ''),
    )
  })
})

describe('TOTP', () => {
  it('enrols at the first login a group requires it, then requires a fresh code every time', async () => {
    const { url, oneTimePassword } = await withBob({ require2fa: true })
    const email = 'bob@acme.example'
    const challenge = await api.login(url, { email, password: oneTimePassword })
    expect(challenge).toMatchObject({
      needs: ['totp', 'new-password'],
      otpauthUri: expect.stringMatching(/^otpauth:\/\/totp\//),
    })
    const secret = new URL((challenge as { otpauthUri: string }).otpauthUri).searchParams.get('secret')!
    // The secret is sealed at rest: the database never holds it in clear.
    const row = await gw!.store.db
      .selectFrom('users')
      .select('totp_secret')
      .where('email', '=', email)
      .executeTakeFirstOrThrow()
    expect(row.totp_secret).not.toContain(secret)

    await refusal(
      api.login(url, { email, password: oneTimePassword, newPassword: NEW_PASSWORD, totp: '000000' }),
      'authFailed',
    )
    const code = totpCode(secret)
    expect(
      await api.login(url, { email, password: oneTimePassword, newPassword: NEW_PASSWORD, totp: code }),
    ).toHaveProperty('token')

    // Enrolled: the password alone is not enough, and the URI is never given again.
    expect(await api.login(url, { email, password: NEW_PASSWORD })).toEqual({ needs: ['totp'] })
    const replayed = await refusal(
      api.login(url, { email, password: NEW_PASSWORD, totp: code }),
      'authFailed',
    )
    expect(replayed.message).toMatch(/already used/)
    // The next step's code (accepted a step early for clock drift) is fresh, and wins once even
    // when three logins race with it.
    const next = totpCode(secret, Date.now() + 30_000)
    const racing = await Promise.allSettled(
      [1, 2, 3].map(() => api.login(url, { email, password: NEW_PASSWORD, totp: next })),
    )
    expect(racing.filter((result) => result.status === 'fulfilled')).toHaveLength(1)
    for (const lost of racing.filter((result) => result.status === 'rejected')) {
      expect((lost as PromiseRejectedResult).reason).toMatchObject({
        code: 'authFailed',
        message: /already used/,
      })
    }

    const actions = await auditActions(email)
    expect(actions).toEqual(
      expect.arrayContaining([
        'login.totp-enrolment',
        'login.totp-enrolled',
        'login.failure',
        'login.success',
      ]),
    )
    const { entries } = await api.admin.audit(url, gw!.token, 1000)
    expect(JSON.stringify(entries)).not.toContain(secret)
  })
})

describe('the IP allow-list', () => {
  it('refuses a login from 127.0.0.2 when the list holds only 127.0.0.1/32, and calls with a token from there', async () => {
    const { url, token, oneTimePassword } = await withBob({ ipAllow: ['127.0.0.1/32'] })
    const email = 'bob@acme.example'
    const refused = await from('127.0.0.2', () =>
      refusal(api.login(url, { email, password: oneTimePassword, newPassword: NEW_PASSWORD }), 'forbidden'),
    )
    expect(refused.message).toContain('127.0.0.2')
    const { token: bobToken } = (await from('127.0.0.1', () =>
      api.login(url, { email, password: oneTimePassword, newPassword: NEW_PASSWORD }),
    )) as { token: string }
    expect(await api.me(url, bobToken)).toMatchObject({ email, groups: ['helpdesk'] })
    await from('127.0.0.2', () => refusal(api.me(url, bobToken), 'forbidden'))
    await from('127.0.0.2', () => refusal(api.createPin(url, bobToken), 'forbidden'))
    const pin = (await api.createPin(url, bobToken)).pin
    const upgrade = from('127.0.0.2', () =>
      openGatewaySocket(
        { server: url, role: 'technician', entry: { pin }, token: bobToken },
        (socket) => socket,
      ),
    )
    await refusal(upgrade, 'forbidden')

    const { entries } = await api.admin.audit(url, token, 1000)
    const refusals = entries.filter((entry) => entry.target === email && /refused/.test(entry.action))
    expect(refusals.map((entry) => entry.address)).toEqual([
      '127.0.0.2',
      '127.0.0.2',
      '127.0.0.2',
      '127.0.0.2',
    ])
  })

  it('will not let an admin set a list that shuts out the address they work from', async () => {
    gw = await startTestGateway()
    const error = await refusal(
      api.admin.setGroup(gw.url, gw.token, 'admins', { ipAllow: ['10.0.0.0/8'] }),
      'usage',
    )
    expect(error.message).toMatch(/lock you out/)
    await refusal(api.admin.setGroup(gw.url, gw.token, 'admins', { ipAllow: ['10.0.0.0/33'] }), 'usage')
  })
})

describe('the idle timeout', () => {
  it('revokes a login token unused for longer than the timeout, on HTTP and on the WebSocket upgrade', async () => {
    const { url, oneTimePassword } = await withBob({ idleTimeoutMs: 2000 })
    const email = 'bob@acme.example'
    const { token: first } = (await api.login(url, {
      email,
      password: oneTimePassword,
      newPassword: NEW_PASSWORD,
    })) as {
      token: string
    }
    // Each call counts as use.
    for (let call = 0; call < 3; call++) {
      await new Promise((resolve) => setTimeout(resolve, 900))
      await api.me(url, first)
    }
    await new Promise((resolve) => setTimeout(resolve, 2300))
    const idle = await refusal(api.me(url, first), 'notLoggedIn')
    expect(idle.message).toBe('logged out after 2 s idle')
    expect(idle.hint).toBe('run rescue login')
    // Revoked, not just refused once.
    await refusal(api.me(url, first), 'notLoggedIn')

    const { token: second } = (await api.login(url, { email, password: NEW_PASSWORD })) as { token: string }
    const pin = (await api.createPin(url, second)).pin
    await new Promise((resolve) => setTimeout(resolve, 2300))
    const upgrade = openGatewaySocket(
      { server: url, role: 'technician', entry: { pin }, token: second },
      (socket) => socket,
    )
    expect((await refusal(upgrade, 'notLoggedIn')).message).toMatch(/idle/)
    expect((await auditActions(email)).filter((action) => action === 'logout.idle')).toHaveLength(2)
  })
})

describe('roles on the admin routes', () => {
  it('refuses every admin route to a technician', async () => {
    const { url, oneTimePassword } = await withBob()
    const { token } = (await api.login(url, {
      email: 'bob@acme.example',
      password: oneTimePassword,
      newPassword: NEW_PASSWORD,
    })) as { token: string }
    // Called one at a time: a refusal that arrived before its await would be an unhandled rejection.
    const calls = [
      () => api.admin.addUser(url, token, { email: 'eve@acme.example', groups: ['helpdesk'] }),
      () => api.admin.listUsers(url, token),
      () => api.admin.removeUser(url, token, ADMIN.email),
      () => api.admin.setUser(url, token, 'bob@acme.example', { groups: ['admins'] }),
      () => api.admin.unlockUser(url, token, ADMIN.email),
      () => api.admin.resetPassword(url, token, ADMIN.email, false),
      () => api.admin.addGroup(url, token, 'mine'),
      () => api.admin.listGroups(url, token),
      () => api.admin.setGroup(url, token, 'helpdesk', { allow: ['exec'] }),
      () => api.admin.createToken(url, token, { name: 'mine', group: 'helpdesk', ttlSeconds: 86_400 }),
      () => api.admin.listTokens(url, token),
      () => api.admin.revokeToken(url, token, 'ci'),
      () => api.admin.audit(url, token, 10),
    ]
    for (const call of calls) expect((await refusal(call(), 'forbidden')).exitCode).toBe(17)
  })

  it('lets an admin manage their own groups only, and never make a master', async () => {
    gw = await startTestGateway()
    const { url, token } = gw
    await api.admin.addGroup(url, token, 'helpdesk')
    await api.admin.addGroup(url, token, 'sales')
    const { oneTimePassword } = await api.admin.addUser(url, token, {
      email: 'dana@acme.example',
      groups: ['helpdesk'],
      role: 'admin',
      adminOf: ['helpdesk'],
    })
    const { token: dana } = (await api.login(url, {
      email: 'dana@acme.example',
      password: oneTimePassword,
      newPassword: NEW_PASSWORD,
    })) as { token: string }
    await api.admin.addUser(url, dana, { email: 'bob@acme.example', groups: ['helpdesk'] })
    await refusal(api.admin.addUser(url, dana, { email: 'sam@acme.example', groups: ['sales'] }), 'forbidden')
    await refusal(
      api.admin.addUser(url, dana, { email: 'max@acme.example', groups: ['helpdesk'], role: 'master' }),
      'forbidden',
    )
    await refusal(api.admin.setGroup(url, dana, 'sales', { allow: ['shell'] }), 'forbidden')
    await refusal(api.admin.addGroup(url, dana, 'mine'), 'forbidden')
    await refusal(api.admin.resetPassword(url, dana, ADMIN.email, false), 'forbidden')
    await api.admin.setGroup(url, dana, 'helpdesk', { allow: ['shell', 'private'] })
    expect((await api.admin.listGroups(url, dana)).groups.map((group) => group.name)).toEqual(['helpdesk'])
    expect((await api.admin.listUsers(url, dana)).users.map((user) => user.email)).toEqual([
      'bob@acme.example',
      'dana@acme.example',
    ])
    await api.admin.unlockUser(url, dana, 'bob@acme.example')
    await refusal(
      api.admin.setUser(url, dana, 'bob@acme.example', { groups: ['helpdesk', 'sales'] }),
      'forbidden',
    )
    await refusal(api.admin.setUser(url, dana, 'bob@acme.example', { role: 'master' }), 'forbidden')
    await refusal(api.admin.setUser(url, dana, ADMIN.email, { name: 'Mallory' }), 'forbidden')
    // The master moves bob; his policy follows at once, and dana no longer manages him.
    const moved = await api.admin.setUser(url, token, 'bob@acme.example', { groups: ['sales'] })
    expect(moved.user).toMatchObject({ groups: ['sales'], role: 'technician' })
    expect(
      await effectivePolicy(gw.store, (await gw.store.findUserByEmail('bob@acme.example'))!.id),
    ).toMatchObject({
      groups: ['sales'],
    })
    await refusal(api.admin.removeUser(url, dana, 'bob@acme.example'), 'forbidden')
    await api.admin.setUser(url, token, 'bob@acme.example', { groups: ['helpdesk'] })
    await refusal(api.admin.setUser(url, token, ADMIN.email, { role: 'technician' }), 'usage')
    await api.admin.removeUser(url, dana, 'bob@acme.example')
    await refusal(api.admin.removeUser(url, dana, 'dana@acme.example'), 'usage')
    // An admin reads what concerns their groups, not the master's own logins.
    const { entries } = await api.admin.audit(url, dana, 1000)
    expect(entries.map((entry) => entry.action)).toEqual(
      expect.arrayContaining(['users.add', 'groups.set', 'users.unlock', 'users.remove']),
    )
    expect(entries.some((entry) => entry.action === 'organisation.init')).toBe(false)
  })

  it('refuses unknown permission names and contradictions', async () => {
    gw = await startTestGateway()
    await api.admin.addGroup(gw.url, gw.token, 'helpdesk')
    const unknown = await refusal(
      api.admin.setGroup(gw.url, gw.token, 'helpdesk', { allow: ['shell', 'teleport'] }),
      'usage',
    )
    expect(unknown.message).toContain('teleport')
    await refusal(
      api.admin.setGroup(gw.url, gw.token, 'helpdesk', { allow: ['shell'], deny: ['shell'] }),
      'usage',
    )
    await refusal(api.admin.setGroup(gw.url, gw.token, 'nosuch', { allow: ['shell'] }), 'usage')
    await refusal(api.admin.addGroup(gw.url, gw.token, 'helpdesk'), 'conflict')
    await refusal(api.admin.addGroup(gw.url, gw.token, 'Bad Name'), 'usage')
  })
})

describe('script tokens and the PIN permission', () => {
  it('applies a change to a group made through the gateway to the very next PIN, though the pairing path keeps policies a second', async () => {
    const { url, token, oneTimePassword } = await withBob()
    const { token: bob } = (await api.login(url, {
      email: 'bob@acme.example',
      password: oneTimePassword,
      newPassword: NEW_PASSWORD,
    })) as { token: string }
    await api.createPin(url, bob)
    // At once, well within the second the gateway keeps bob's groups for.
    await api.admin.setGroup(url, token, 'helpdesk', { allow: ['shell'] })
    expect((await refusal(api.createPin(url, bob), 'forbidden')).message).toMatch(/private/)
    await api.admin.setGroup(url, token, 'helpdesk', { allow: ['shell', 'private'] })
    expect(await api.createPin(url, bob)).toMatchObject({ pin: expect.any(String) })
  })

  it("authenticate with exactly their group's permissions, and stop at once when revoked", async () => {
    gw = await startTestGateway()
    const { url, token } = gw
    await api.admin.addGroup(url, token, 'scripts')
    await api.admin.setGroup(url, token, 'scripts', { allow: ['exec', 'sysinfo'], idleTimeoutMs: 1000 })
    const created = await api.admin.createToken(url, token, {
      name: 'ci',
      group: 'scripts',
      ttlSeconds: 86_400,
    })
    expect(created).toMatchObject({ name: 'ci', group: 'scripts', token: expect.any(String) })
    expect(await api.me(url, created.token)).toMatchObject({
      email: 'token:ci',
      role: 'technician',
      groups: ['scripts'],
      permissions: ['exec', 'sysinfo'],
    })
    // No "private": no PINs. And no idle timeout for scripts.
    const noPin = await refusal(api.createPin(url, created.token), 'forbidden')
    expect(noPin.message).toMatch(/private/)
    await new Promise((resolve) => setTimeout(resolve, 1200))
    await api.me(url, created.token)
    // It cannot log in with a password, and is not a user to list.
    await refusal(api.login(url, { email: 'token:ci', password: '' }), 'authFailed')
    expect((await api.admin.listUsers(url, token)).users.map((user) => user.email)).toEqual([ADMIN.email])
    expect((await api.admin.listTokens(url, token)).tokens).toEqual([
      expect.objectContaining({ name: 'ci', group: 'scripts', lastUsedAt: expect.any(String) }),
    ])
    const stored = await gw.store.db
      .selectFrom('tokens')
      .select('token_hash')
      .where('kind', '=', 'script')
      .execute()
    expect(stored.map((row) => row.token_hash)).not.toContain(created.token)

    await refusal(
      api.admin.createToken(url, token, { name: 'ci', group: 'scripts', ttlSeconds: 86_400 }),
      'conflict',
    )
    await api.admin.revokeToken(url, token, 'ci')
    await refusal(api.me(url, created.token), 'notLoggedIn')
    expect(await auditActions('token:ci')).toEqual(['tokens.create', 'login.failure', 'tokens.revoke'])
  })
})
