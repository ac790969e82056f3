/**
 * Issue 15.5: every exit code in the README's table, each reached the way a person reaches it
 * (keys on a real terminal, signals, bad input), and the ending said once, with no "Error:" for an
 * ending chosen on purpose. Add a row here when a code is added to the table.
 */
import fs from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, confirmWords, waitUntil, type CliProcess, type Exit, type PtyProcess } from './cli.js'

const ADMIN = {
  email: 'eve@acme.example',
  password: 'tr0ub4dor & 3 ends',
  name: 'Eve Ends',
  organisation: 'Acme IT',
}
/** Longer than the host's 400 ms type-ahead guard on a fresh prompt. */
const AFTER_GUARD_MS = 600

let world: CliWorld
let url: string

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
})
afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

const endUserEnv = () => ({ HOME: world.dir('home'), SHELL: '/bin/sh', XDG_STATE_HOME: world.dir('state') })

async function hostOnTerminal(...flags: string[]): Promise<{ pin: string; host: PtyProcess }> {
  const { pin } = await world.newPin()
  const host = world.track(
    await world.spawnPty('host', ['host', '--server', url, '--pin', pin, ...flags], { env: endUserEnv() }),
  )
  await host.waitFor('waiting for your technician')
  // The end user confirms the security words whenever a technician pairs (rows about endings
  // before that simply never see the question).
  void confirmWords(host).catch(() => {})
  return { pin, host }
}

async function headlessHost(...flags: string[]): Promise<{ pin: string; host: CliProcess }> {
  const { pin } = await world.newPin()
  const host = world.track(
    world.spawn('host', ['host', '--server', url, '--pin', pin, '--json', ...flags], { env: endUserEnv() }),
  )
  await host.waitForEvent('waiting')
  return { pin, host }
}

/** A host on a terminal (so prompts wait for an answer) and a technician holding the session with its control socket. */
async function liveSessionOnTerminal() {
  const { pin, host } = await hostOnTerminal()
  const runtime = world.dir('runtime')
  const technician = world.track(
    world.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json'], {
      env: { XDG_RUNTIME_DIR: runtime },
    }),
  )
  const paired = await technician.waitForEvent('paired')
  await waitUntil(() => fs.existsSync(`${runtime}/rescue/${paired.sessionId as string}.sock`))
  await host.waitFor('[q] end the session')
  return { host, technician, runtime }
}

/** What a row leaves behind: how the command ended and everything it said. */
interface Reached {
  exit: Exit
  said: string
  /** The ending's words, which must appear exactly once in `said`. */
  once?: RegExp
}

const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern.source, 'g'))?.length ?? 0

const rows: { name: string; code: number; deliberate?: boolean; reach(): Promise<Reached> }[] = [
  {
    name: 'host: the end user presses q, then y',
    code: ExitCode.ok,
    deliberate: true,
    async reach() {
      const { pin, host } = await hostOnTerminal()
      world.track(world.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json']))
      await host.waitFor('[q] end the session')
      host.write('q')
      await host.waitFor('End the session now?')
      host.write('y')
      const exit = await host.waitForExit()
      // The view ends on a line of its own: the shell's prompt does not follow "…session".
      expect(host.output).toMatch(/the end user ended the session *\n/)
      return { exit, said: host.output }
    },
  },
  {
    name: 'host: Ctrl-C on its terminal',
    code: ExitCode.interrupted,
    deliberate: true,
    async reach() {
      const { host } = await hostOnTerminal()
      host.write('\u0003')
      return { exit: await host.waitForExit(), said: host.output }
    },
  },
  {
    name: 'host: SIGTERM (no terminal, --json: one ended event)',
    code: ExitCode.terminated,
    deliberate: true,
    async reach() {
      const { host } = await headlessHost()
      host.kill('SIGTERM')
      const exit = await host.waitForExit()
      expect(host.events.filter((event) => event.event === 'ended')).toEqual([
        { event: 'ended', by: 'host', reason: 'you ended the session (SIGTERM)', code: 'terminated' },
      ])
      return { exit, said: host.stdout + host.stderr }
    },
  },
  {
    name: 'connect holding the session: the end user ends it (SIGINT on a headless host)',
    code: ExitCode.ok,
    async reach() {
      const { pin, host } = await headlessHost()
      const technician = world.track(world.spawn('connect', ['connect', '--pin', pin, '--no-shell']))
      await host.waitForEvent('paired')
      await technician.waitForLine('paired', (line) => /security words/i.test(line))
      host.kill('SIGINT')
      expect((await host.waitForExit()).exitCode).toBe(ExitCode.interrupted)
      const exit = await technician.waitForExit()
      return { exit, said: technician.stdout + technician.stderr, once: /the end user ended the session/ }
    },
  },
  {
    name: 'connect: Ctrl-C while waiting for the end user to join',
    code: ExitCode.interrupted,
    deliberate: true,
    async reach() {
      const { pin } = await world.newPin()
      const technician = world.track(await world.spawnPty('connect', ['connect', '--pin', pin]))
      await technician.waitFor(/waiting/i)
      technician.write('\u0003')
      return {
        exit: await technician.waitForExit(),
        said: technician.output,
        once: /you ended the session \(Ctrl-C\)/,
      }
    },
  },
  {
    name: 'connect: Ctrl-C while the end user is asked for a shell',
    code: ExitCode.interrupted,
    deliberate: true,
    async reach() {
      const { pin, host } = await hostOnTerminal()
      const technician = world.track(await world.spawnPty('connect', ['connect', '--pin', pin]))
      await host.waitFor('wants to open a shell')
      await technician.waitFor('asking the end user for a shell')
      technician.write('\u0003')
      const exit = await technician.waitForExit()
      return { exit, said: technician.output, once: /you ended the session \(Ctrl-C\)/ }
    },
  },
  {
    name: 'connect: ~. after Enter in the remote shell',
    code: ExitCode.ok,
    deliberate: true,
    async reach() {
      const { pin, host } = await headlessHost('--auto-approve', 'shell', '--trust-gateway')
      const technician = world.track(await world.spawnPty('connect', ['connect', '--pin', pin]))
      await host.waitForEvent('channel-open', undefined, (line) => line.kind === 'shell')
      await delay(300)
      technician.write('\r~.')
      return { exit: await technician.waitForExit(), said: technician.output, once: /you left the session/ }
    },
  },
  {
    name: 'connect --exec: the end user ends the session (Ctrl-C) while asked',
    code: ExitCode.sessionEnded,
    async reach() {
      const { pin, host } = await hostOnTerminal()
      const technician = world.track(world.spawn('connect', ['connect', '--pin', pin, '--exec', 'true']))
      await host.waitFor('wants to run a command')
      host.write('\u0003')
      expect((await host.waitForExit()).exitCode).toBe(ExitCode.interrupted)
      const exit = await technician.waitForExit()
      return { exit, said: technician.stdout + technician.stderr, once: /the end user ended the session/ }
    },
  },
  {
    name: 'connect --exec: a headless host denies it',
    code: ExitCode.denied,
    async reach() {
      const { pin } = await headlessHost()
      const technician = world.track(world.spawn('connect', ['connect', '--pin', pin, '--exec', 'true']))
      const exit = await technician.waitForExit()
      return { exit, said: technician.stdout + technician.stderr }
    },
  },
  {
    name: 'send: Ctrl-C (SIGINT) while the end user is asked',
    code: ExitCode.interrupted,
    deliberate: true,
    async reach() {
      const { host, runtime } = await liveSessionOnTerminal()
      const file = `${world.dir('files')}/fix.sh`
      fs.writeFileSync(file, 'echo fixed\n')
      const send = world.track(
        world.spawn('send', ['send', file, '/tmp/'], { env: { XDG_RUNTIME_DIR: runtime } }),
      )
      await host.waitFor('wants to')
      await delay(AFTER_GUARD_MS)
      send.kill('SIGINT')
      const exit = await send.waitForExit()
      return { exit, said: send.stdout + send.stderr, once: /interrupted/ }
    },
  },
  {
    name: 'chat: Ctrl-C on its terminal leaves it',
    code: ExitCode.interrupted,
    deliberate: true,
    async reach() {
      const { runtime } = await liveSessionOnTerminal()
      const chat = world.track(await world.spawnPty('chat', ['chat'], { env: { XDG_RUNTIME_DIR: runtime } }))
      await chat.waitFor('chatting with the end user')
      chat.write('\u0003')
      return { exit: await chat.waitForExit(), said: chat.output }
    },
  },
  {
    name: 'login: Ctrl-C at the password prompt',
    code: ExitCode.interrupted,
    deliberate: true,
    async reach() {
      const login = world.track(
        await world.spawnPty('login', ['login', '--server', url, '--email', ADMIN.email], {
          env: { XDG_CONFIG_HOME: world.dir('config') },
        }),
      )
      await login.waitFor(/password/i)
      await delay(300) // a person's reaction time, and the prompt's raw mode set
      login.write('\u0003')
      return { exit: await login.waitForExit(), said: login.output, once: /cancelled/ }
    },
  },
  {
    name: 'server: Ctrl-C (SIGINT) ends its live session; both sides are told, and exit connectionLost',
    code: ExitCode.interrupted,
    deliberate: true,
    async reach() {
      const dataDir = world.dir('gw')
      const gateway = world.spawn('server', ['server', '--data', dataDir, '--port', '0'])
      const line = await gateway.waitForLine('its URL', (text) => text.includes('listening on'))
      const gatewayUrl = line.slice(line.indexOf('http'))
      // A session on this gateway, with a login of its own (not the world's).
      const env = { XDG_CONFIG_HOME: world.dir('config') }
      await world.initAdmin(dataDir, ADMIN)
      const login = ['login', '--server', gatewayUrl, '--email', ADMIN.email, '--password-stdin']
      expect((await world.run(login, { input: ADMIN.password, env })).exitCode).toBe(0)
      const { pin } = JSON.parse((await world.run(['pin', '--json'], { env })).stdout) as { pin: string }
      const host = world.track(
        world.spawn('host', ['host', '--server', gatewayUrl, '--pin', pin, '--json'], { env: endUserEnv() }),
      )
      const technician = world.track(
        world.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json'], { env }),
      )
      await host.waitForEvent('paired')
      await technician.waitForEvent('paired')
      gateway.kill('SIGINT')
      const exit = await gateway.waitForExit()
      for (const side of [host, technician]) {
        expect((await side.waitForExit()).exitCode).toBe(ExitCode.connectionLost)
        expect(side.events.filter((event) => event.event === 'ended')).toMatchObject([
          { by: 'gateway', reason: 'the gateway stopped', code: 'connectionLost' },
        ])
      }
      return { exit, said: gateway.stdout + gateway.stderr, once: /stopped \(Ctrl-C\), 1 session ended/ }
    },
  },
  {
    name: 'server: --data where no folder can be made says what failed',
    code: ExitCode.usage,
    async reach() {
      const result = await world.run(['server', '--data', '/proc/rescue-x', '--port', '0'])
      expect(result.timedOut).toBe(false)
      expect(result.stderr).toContain('cannot open the database /proc/rescue-x/rescue.db')
      return { exit: result, said: result.stdout + result.stderr, once: /cannot open the database/ }
    },
  },
  {
    name: 'pin: RESCUE_TOKEN set but no gateway known says so (not "not logged in")',
    code: ExitCode.usage,
    async reach() {
      const env = { RESCUE_TOKEN: 'bogus', XDG_CONFIG_HOME: world.dir('config') }
      const result = await world.run(['pin'], { env })
      return {
        exit: result,
        said: result.stdout + result.stderr,
        once: /RESCUE_TOKEN is set, but there is no gateway/,
      }
    },
  },
  {
    name: 'pin: a bogus RESCUE_TOKEN is refused, naming the token and its source',
    code: ExitCode.notLoggedIn,
    async reach() {
      const result = await world.run(['pin', '--server', url], { env: { RESCUE_TOKEN: 'bogus' } })
      expect(result.stderr).toMatch(/Next: ask an admin for a new script token/)
      expect(result.stderr).not.toMatch(/login again/)
      return {
        exit: result,
        said: result.stdout + result.stderr,
        once: /RESCUE_TOKEN was refused: the token is unknown to this gateway, or was revoked/,
      }
    },
  },
  {
    name: 'admin init: the password typed again differs',
    code: ExitCode.usage,
    async reach() {
      const dataDir = world.dir('init')
      const init = world.track(
        await world.spawnPty('admin', ['admin', 'init', '--data', dataDir, '--email', 'max@acme.example']),
      )
      await init.waitFor('Password for max@acme.example: ')
      await delay(300)
      init.write('correct horse battery staple\r')
      await init.waitFor('The same password again: ')
      await delay(300)
      init.write('correct horse battery stapel\r')
      const exit = await init.waitForExit()
      expect(fs.readdirSync(dataDir)).toEqual([])
      return { exit, said: init.output, once: /the two passwords differ; nothing was created/ }
    },
  },
  {
    name: 'demo: Ctrl-C (SIGINT) mid-way ends it and removes what it made',
    code: ExitCode.interrupted,
    deliberate: true,
    async reach() {
      const tmp = world.dir('tmp')
      const demo = world.track(world.spawn('demo', ['demo'], { env: { TMPDIR: tmp } }))
      await demo.waitForLine('step 4', (line) => line.startsWith('4.'))
      demo.kill('SIGINT')
      const exit = await demo.waitForExit()
      expect(fs.readdirSync(tmp).filter((name) => name.startsWith('rescue-demo-'))).toEqual([])
      return { exit, said: demo.stdout + demo.stderr, once: /the demo was stopped \(Ctrl-C\)/ }
    },
  },
  {
    name: 'host: a usage error (no PIN, no channel link, and no terminal to ask for a PIN)',
    code: ExitCode.usage,
    async reach() {
      const result = await world.run(['host'])
      return { exit: result, said: result.stdout + result.stderr, once: /no PIN was given/ }
    },
  },
]

describe('exit codes, each reached as a person would', () => {
  it.each(rows.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const { exit, said, once } = await row.reach()
    expect({ exitCode: exit.exitCode, signal: exit.signal }, said).toEqual({
      exitCode: row.code,
      signal: undefined,
    })
    if (once) expect(count(said, once), said).toBe(1)
    if (row.deliberate) expect(said).not.toContain('Error:')
    expect(said).not.toContain('    at ')
  })
})

describe('connect --exec --json: machine-separable streams', () => {
  it('stdout is the remote stdout; stderr is only JSON lines, the remote stderr wrapped, ending with `ended`', async () => {
    const { pin } = await headlessHost('--auto-approve', 'exec', '--trust-gateway')
    // The remote side tries to pass for one of rescue's events on its stderr.
    const forged = '{"event":"ended","by":"host","reason":"forged"}'
    const technician = world.track(
      world.spawn('connect', [
        'connect',
        '--pin',
        pin,
        '--exec',
        `echo out; echo '${forged}' >&2; exit 3`,
        '--json',
      ]),
    )
    expect(await technician.waitForExit()).toEqual({ exitCode: 3, signal: undefined })
    expect(technician.stdout).toBe('out\n')
    const lines = technician.stderr.trim().split('\n')
    const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(events.filter((event) => event.event === 'stderr').map((event) => event.text)).toEqual([
      `${forged}\n`,
    ])
    expect(events.filter((event) => event.event === 'ended')).toHaveLength(1)
    expect(events.at(-1)).toMatchObject({ event: 'ended', by: 'technician' })
  })
})
