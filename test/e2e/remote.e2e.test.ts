import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, onlyJson, type CliProcess, type JsonLine, type PtyProcess } from './cli.js'

const ADMIN = {
  email: 'carol@acme.example',
  password: 'a long and winding passphrase',
  name: 'Carol Diaz',
  organisation: 'Acme IT',
}

/** For what takes milliseconds (a kill, a close): far short of WAIT_MS, and of any `sleep 30`. */
const PROMPTLY_MS = 3000

let world: CliWorld
let url: string
/** `--trust KEY`: the organisation's key, which certified the technician's device. */
let trust: string[]

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
  trust = await world.trustOrganisation(ADMIN.email)
})

afterEach(() => world.stopTracked())

afterAll(() => world?.dispose())

/**
 * The end user's shell (`$SHELL -l`) starts in an empty home with /bin/sh: whether a test passes
 * must not depend on the developer's login profile (a slow rc file, a stale pyenv rehash lock).
 */
function endUserEnv() {
  return { HOME: world.dir('home'), SHELL: '/bin/sh' }
}

/**
 * `rescue host --json` without a terminal (stdin is /dev/null), on a fresh PIN, waiting for the
 * technician; when it auto-approves, it trusts the organisation's key (nobody is there to compare words).
 */
async function headlessHost(...given: string[]) {
  const flags = given.includes('--auto-approve') ? [...given, ...trust] : given
  const { pin } = await world.newPin()
  const host = world.track(
    world.spawn('host', ['host', '--server', url, '--pin', pin, '--json', ...flags], { env: endUserEnv() }),
  )
  await host.waitForEvent('waiting')
  return { pin, host }
}

/** `rescue connect --exec COMMAND` against a host that pre-approves exec; both run to their end. */
async function execThroughHost(command: string, ...hostFlags: string[]) {
  const { pin, host } = await headlessHost(...hostFlags)
  const technician = world.track(world.spawn('connect', ['connect', '--pin', pin, '--exec', command]))
  const [exit, hostExit] = await Promise.all([technician.waitForExit(), host.waitForExit()])
  return { technician, exit, host, hostExit }
}

function eventsNamed(host: CliProcess, name: string): JsonLine[] {
  return host.events.filter((line) => line.event === name)
}

describe('rescue connect --exec: one command on the end user’s computer', () => {
  it('prints exactly the command’s stdout and exits 0; the host reports the consent and the channel', async () => {
    const { technician, exit, host, hostExit } = await execThroughHost(
      'echo $((6*7))',
      '--auto-approve',
      'exec',
    )

    expect(technician.stdout).toBe('42\n')
    expect(exit).toEqual({ exitCode: 0, signal: undefined })

    expect(eventsNamed(host, 'auto-approve')).toEqual([{ event: 'auto-approve', permissions: ['exec'] }])
    expect(eventsNamed(host, 'paired')[0]).toMatchObject({
      technician: { email: ADMIN.email },
      verified: { email: ADMIN.email, caFingerprint: expect.stringMatching(/^SHA256:/) },
    })
    const [request] = eventsNamed(host, 'consent-request')
    expect(request).toMatchObject({
      permission: 'exec',
      detail: 'echo $((6*7))',
      technician: ADMIN.email,
      summary: expect.stringContaining('run a command'),
    })
    expect(eventsNamed(host, 'consent-decision')).toEqual([
      {
        event: 'consent-decision',
        id: request?.id,
        permission: 'exec',
        decision: 'once',
        by: 'auto-approve',
      },
    ])
    expect(eventsNamed(host, 'channel-open')).toEqual([
      { event: 'channel-open', channel: 1, kind: 'exec', command: 'echo $((6*7))' },
    ])
    expect(eventsNamed(host, 'channel-close')).toEqual([
      { event: 'channel-close', channel: 1, kind: 'exec', exitCode: 0 },
    ])
    // The technician ended the session once the command was done; for the end user that is no error.
    expect(eventsNamed(host, 'ended')).toMatchObject([{ by: 'technician' }])
    expect(hostExit).toEqual({ exitCode: ExitCode.ok, signal: undefined })
  })

  it('exits with the remote command’s status', async () => {
    const { technician, exit, host } = await execThroughHost('exit 7', '--auto-approve', 'exec')

    expect(exit).toEqual({ exitCode: 7, signal: undefined })
    expect(technician.stdout).toBe('')
    expect(eventsNamed(host, 'channel-close')).toEqual([
      { event: 'channel-close', channel: 1, kind: 'exec', exitCode: 7 },
    ])
  })

  it('keeps the remote stdout and stderr apart', async () => {
    const { technician, exit } = await execThroughHost('echo out; echo err >&2', '--auto-approve', 'exec')

    expect(exit).toEqual({ exitCode: 0, signal: undefined })
    expect(technician.stdout).toBe('out\n')
    const stderrLines = technician.stderr.split('\n')
    expect(stderrLines).toContain('err')
    expect(stderrLines).not.toContain('out')
  })

  it('without a terminal and without --auto-approve, nobody can allow it: exit 15 (denied), saying so', async () => {
    const { technician, exit, host, hostExit } = await execThroughHost('echo should not run')

    expect(exit).toEqual({ exitCode: ExitCode.denied, signal: undefined })
    expect(technician.stdout).toBe('')
    expect(technician.stderr).toContain("no one is at the host's terminal to allow the command")
    expect(eventsNamed(host, 'consent-decision')).toMatchObject([
      { permission: 'exec', decision: 'deny', by: 'no-terminal' },
    ])
    expect(eventsNamed(host, 'channel-open')).toEqual([])
    expect(hostExit).toEqual({ exitCode: ExitCode.ok, signal: undefined })
  })
})

describe('rescue connect on a terminal: a remote shell that behaves like ssh', () => {
  /** The technician's `rescue connect` on a 100x30 terminal, once the host has opened the shell. */
  async function shellSession() {
    const { pin, host } = await headlessHost('--auto-approve', 'shell')
    const technician = world.track(
      await world.spawnPty('connect', ['connect', '--pin', pin], { cols: 100, rows: 30 }),
    )
    await host.waitForEvent('channel-open', undefined, (line) => line.kind === 'shell')
    return { host, technician }
  }

  /**
   * Types a command line and resolves with the output that `answer` captures. Keys typed before
   * the shell's first prompt are echoed before it, so an answer may follow a prompt ("# 42").
   */
  async function type(technician: PtyProcess, line: string, answer: RegExp) {
    const from = technician.mark()
    technician.write(`${line}\r`)
    return (await technician.waitFor(answer, { from })).text
  }

  it('runs commands in a PTY the size of the window, follows resizes, and exits with the shell’s status', async () => {
    const { host, technician } = await shellSession()

    // The echoed command line holds "40+2", never " 42" at the end of a line.
    expect(await type(technician, 'echo $((40+2))', /(?:^|\s)(\d+)\n/)).toBe('42')
    expect(await type(technician, 'stty size', /(?:^|\s)(\d+ \d+)\n/)).toBe('30 100')

    technician.resize(120, 40)
    // SIGWINCH reaches connect, then the host, out of band with the keys: give it a moment.
    await delay(300)
    expect(await type(technician, 'stty size', /(?:^|\s)(\d+ \d+)\n/)).toBe('40 120')

    technician.write('exit 3\r')
    expect(await technician.waitForExit()).toEqual({ exitCode: 3, signal: undefined })
    expect(eventsNamed(host, 'channel-close')).toMatchObject([{ kind: 'shell', exitCode: 3 }])
    expect(await host.waitForExit()).toEqual({ exitCode: ExitCode.ok, signal: undefined })
  })

  it('"~?" after Enter lists the escapes, and the shell never sees it', async () => {
    const { technician } = await shellSession()

    const from = technician.mark()
    technician.write('\r~?')
    await technician.waitFor('Supported escape sequences (after Enter):', { from })
    await technician.waitFor('~.  - leave the session', { from })
    // Had "~?" reached the shell, this line would read "~?echo ...": command not found.
    expect(await type(technician, 'echo $((2+3))', /(?:^|\s)(\d+)\n/)).toBe('5')
    expect(technician.exit).toBeUndefined()
  })

  it('"~." after Enter leaves on purpose: the end user sees the technician end it, and connect exits 0, saying so once', async () => {
    const { host, technician } = await shellSession()

    const from = technician.mark()
    technician.write('\r~.')
    await technician.waitFor('you left the session', { from })
    expect(await host.waitForExit()).toEqual({ exitCode: ExitCode.ok, signal: undefined })
    expect(eventsNamed(host, 'ended')).toMatchObject([{ by: 'technician' }])
    expect(await technician.waitForExit(PROMPTLY_MS)).toEqual({ exitCode: ExitCode.ok, signal: undefined })
    const said = technician.output.slice(from)
    expect(said.match(/session ended/g)).toHaveLength(1)
    expect(said.match(/you left the session/g)).toHaveLength(1)
    expect(said).not.toContain('Error:')
  })
})

describe('the end user’s audit log after headless sessions', () => {
  it('rescue log --json holds the auto-approved command with its exit status', async () => {
    const { host } = await execThroughHost('exit 5', '--auto-approve', 'exec')
    const sessionId = eventsNamed(host, 'paired')[0]?.sessionId
    const log = onlyJson(await world.run(['log', '--json', '--session', String(sessionId)]))

    expect(log.skipped).toBe(0)
    const entries = log.entries as JsonLine[]
    expect(entries.map((entry) => entry.event)).toEqual([
      'session-start',
      'auto-approve',
      'consent-request',
      'consent-decision',
      'channel-open',
      'channel-close',
      'session-end',
    ])
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          event: 'session-start',
          technician: expect.objectContaining({ email: ADMIN.email }),
        }),
        expect.objectContaining({ event: 'consent-decision', decision: 'once', by: 'auto-approve' }),
        expect.objectContaining({ event: 'channel-close', kind: 'exec', exitCode: 5 }),
        expect.objectContaining({ event: 'session-end', by: 'technician' }),
      ]),
    )
  })
})
