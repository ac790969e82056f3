/**
 * The end user's live view of `rescue host`, on a real terminal (node-pty, CI unset so Ink draws
 * every frame), answering the consent prompts that the technician's real `rescue connect` causes.
 * Each test gives its host its own XDG_STATE_HOME, so `rescue log --json` reads that session only.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { runRemoteCommand } from '../../src/core/ssh/technician-client.js'
import { startTechnician } from '../../src/core/technician/index.js'
import { CliWorld, onlyJson, type CliProcess, type JsonLine, type PtyProcess } from './cli.js'

const ADMIN = {
  email: 'dana@acme.example',
  password: 'seven green bottles on the wall',
  name: 'Dana Kim',
  organisation: 'Acme IT',
}
const USER = os.userInfo().username
/** Longer than the view's type-ahead guard (PROMPT_GUARD_MS, 400 ms): keys sooner are ignored. */
const AFTER_GUARD_MS = 500
/** For what takes milliseconds (a kill, a close): far short of WAIT_MS, and of any `sleep 30`. */
const PROMPTLY_MS = 3000

let world: CliWorld
let url: string

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
})

afterEach(() => world.stopTracked())

afterAll(() => world?.dispose())

/** `rescue host` on a 120x40 terminal, on a fresh PIN and its own state directory, once it waits. */
async function hostOnTerminal(...flags: string[]) {
  const { pin } = await world.newPin()
  const stateDir = world.dir('state')
  const host = world.track(
    await world.spawnPty('host', ['host', '--server', url, '--pin', pin, ...flags], {
      cols: 120,
      rows: 40,
      // The end user's shell (`$SHELL -l`) starts in an empty home with /bin/sh: the developer's
      // login profile (a slow rc file, a stale pyenv rehash lock) must not decide the outcome.
      env: { XDG_STATE_HOME: stateDir, HOME: world.dir('home'), SHELL: '/bin/sh' },
    }),
  )
  await host.waitFor('waiting for your technician')
  return { pin, host, stateDir }
}

function connectExec(pin: string, command: string): CliProcess {
  return world.track(world.spawn('connect', ['connect', '--pin', pin, '--exec', command]))
}

/** Waits for the consent prompt for `command`, checks what it says, and returns where it ends. */
async function waitForExecPrompt(host: PtyProcess, command: string): Promise<number> {
  const asks = await host.waitFor(`${ADMIN.email} wants to run a command as ${USER} on this computer.`)
  await host.waitFor(command, { from: asks.end })
  const keys = await host.waitFor(
    /\[a\] allow once {3}\[s\] allow for this session {3}\[d\] deny +\(denies in \d+ s\)/,
    { from: asks.end },
  )
  return keys.end
}

/** Presses `key` once the prompt has been on screen longer than the type-ahead guard. */
async function press(host: PtyProcess, key: string): Promise<void> {
  await delay(AFTER_GUARD_MS)
  host.write(key)
}

/** The host's audit log as `rescue log --json` reads it. */
async function auditLog(stateDir: string): Promise<JsonLine[]> {
  const log = onlyJson(await world.run(['log', '--json'], { env: { XDG_STATE_HOME: stateDir } }))
  expect(log.skipped).toBe(0)
  expect(log.file).toBe(path.join(stateDir, 'rescue', 'audit.jsonl'))
  return log.entries as JsonLine[]
}

const eventNames = (entries: JsonLine[]) => entries.map((entry) => entry.event)

describe('rescue host on a terminal: the end user answers consent prompts', () => {
  it('shows who asks to run what; [a] allows it once and the technician gets the output', async () => {
    const { pin, host, stateDir } = await hostOnTerminal()
    const technician = connectExec(pin, 'echo $((6*7))')
    await host.waitFor(`technician ${ADMIN.name} <${ADMIN.email}> of ${ADMIN.organisation}`)
    const promptEnd = await waitForExecPrompt(host, 'echo $((6*7))')
    await press(host, 'a')

    expect(await technician.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
    expect(technician.stdout).toBe('42\n')
    await host.waitFor('exec allowed once', { from: promptEnd })
    await host.waitFor('command finished, exit status 0', { from: promptEnd })
    await host.waitFor('session ended: the technician ended the session', { from: promptEnd })
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })

    const entries = await auditLog(stateDir)
    expect(eventNames(entries)).toEqual([
      'session-start',
      'consent-request',
      'consent-decision',
      'channel-open',
      'channel-close',
      'session-end',
    ])
    expect(entries).toEqual([
      expect.objectContaining({
        technician: { name: ADMIN.name, email: ADMIN.email, organisation: ADMIN.organisation },
      }),
      expect.objectContaining({ permission: 'exec', detail: 'echo $((6*7))', technician: ADMIN.email }),
      expect.objectContaining({ permission: 'exec', decision: 'once', by: 'end-user' }),
      expect.objectContaining({ kind: 'exec', command: 'echo $((6*7))' }),
      expect.objectContaining({ kind: 'exec', exitCode: 0 }),
      expect.objectContaining({ by: 'technician' }),
    ])
  })

  it('[d] denies: the technician’s connect exits denied (15) saying the end user denied it, and nothing runs', async () => {
    const { pin, host, stateDir } = await hostOnTerminal()
    const technician = connectExec(pin, 'echo should not run')
    const promptEnd = await waitForExecPrompt(host, 'echo should not run')
    await press(host, 'd')

    expect(await technician.waitForExit()).toEqual({ exitCode: ExitCode.denied, signal: undefined })
    expect(technician.stdout).toBe('')
    expect(technician.stderr).toContain('denied by the end user')
    await host.waitFor('exec denied', { from: promptEnd })
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })

    const entries = await auditLog(stateDir)
    expect(eventNames(entries)).toEqual([
      'session-start',
      'consent-request',
      'consent-decision',
      'session-end',
    ])
    expect(entries[2]).toMatchObject({ permission: 'exec', decision: 'deny', by: 'end-user' })
  })

  it('a key pressed as the prompt appears is ignored, and silence past --consent-timeout is a denial', async () => {
    const { pin, host, stateDir } = await hostOnTerminal('--consent-timeout', '2s')
    const technician = connectExec(pin, 'echo should not run')
    await host.waitFor(`${ADMIN.email} wants to run a command`)
    // Typed ahead, as if meant for what was on screen before: the prompt must not take it.
    host.write('a')
    const promptEnd = await waitForExecPrompt(host, 'echo should not run')

    expect(await technician.waitForExit()).toEqual({ exitCode: ExitCode.denied, signal: undefined })
    expect(technician.stdout).toBe('')
    expect(technician.stderr).toContain('denied by the end user')
    await host.waitFor('exec denied: no answer in 2 s', { from: promptEnd })
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })

    const entries = await auditLog(stateDir)
    expect(eventNames(entries)).toEqual([
      'session-start',
      'consent-request',
      'consent-decision',
      'session-end',
    ])
    expect(entries[2]).toMatchObject({ permission: 'exec', decision: 'deny', by: 'timeout' })
  })

  it('[s] allows commands for the rest of the session: the next one runs without a prompt', async () => {
    const { pin, host, stateDir } = await hostOnTerminal()
    // `rescue connect --exec` ends its session after one command, so the technician here is the
    // same core client that connect uses, run in this process to send two commands in one session.
    const tokens = JSON.parse(fs.readFileSync(path.join(world.configDir, 'tokens.json'), 'utf8')) as Record<
      string,
      string
    >
    const technician = await startTechnician({
      server: url,
      entry: { pin },
      token: tokens[url]!,
      onEvent: () => {},
    })
    try {
      const client = await technician.ssh
      const first = collect()
      const firstExit = runRemoteCommand(client, 'echo first', { stdout: first.stream, stderr: first.stream })
      const promptEnd = await waitForExecPrompt(host, 'echo first')
      await press(host, 's')
      expect(await firstExit).toEqual({ exitCode: 0 })
      expect(first.text()).toBe('first\n')
      await host.waitFor('exec allowed for this session', { from: promptEnd })
      await host.waitFor('granted now: exec', { from: promptEnd })

      const beforeSecond = host.mark()
      const second = collect()
      const secondExit = await runRemoteCommand(client, 'echo second', {
        stdout: second.stream,
        stderr: second.stream,
      })
      expect(secondExit).toEqual({ exitCode: 0 })
      expect(second.text()).toBe('second\n')
      // No key was pressed for it: the feed says why it ran. (That no prompt box even flashes up
      // is the known-bug test below.)
      await host.waitFor('exec allowed: granted for this session', { from: beforeSecond })
      await host.waitFor('ran: echo second', { from: beforeSecond })
    } finally {
      technician.session.end()
      await technician.session.done
    }
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })

    const decisions = (await auditLog(stateDir)).filter((entry) => entry.event === 'consent-decision')
    expect(decisions).toMatchObject([
      { permission: 'exec', decision: 'session', by: 'end-user' },
      { permission: 'exec', decision: 'once', by: 'session-grant' },
    ])
  })

  it('[r] revokes access: a running command is killed at once, and the view and the audit log say so', async () => {
    const { pin, host, stateDir } = await hostOnTerminal()
    // `exec`: the command is the process the host started, whatever the shell (see the known bug
    // below for a command that is a child of that shell).
    const technician = connectExec(pin, 'exec sleep 30')
    const promptEnd = await waitForExecPrompt(host, 'exec sleep 30')
    await press(host, 'a')
    await host.waitFor('open now: command #1 (exec sleep 30)', { from: promptEnd })
    host.write('r')

    // Well before the 30 s: the command was killed. The exact status (129) and the signal's name
    // in the message are the known-bug test below.
    const exit = await technician.waitForExit(PROMPTLY_MS)
    expect(exit.exitCode).not.toBe(0)
    expect(technician.stderr).toContain('the end user revoked access')
    await host.waitFor('you revoked every grant; 1 channel closed', { from: promptEnd })
    await host.waitFor('command ended by signal SIGHUP', { from: promptEnd })
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })

    const entries = await auditLog(stateDir)
    expect(eventNames(entries)).toEqual([
      'session-start',
      'consent-request',
      'consent-decision',
      'channel-open',
      // Revoking closes each channel (logged as it closes), then records the revocation.
      'channel-close',
      'grants-revoked',
      'session-end',
    ])
    expect(entries[4]).toMatchObject({ kind: 'exec', signal: 'SIGHUP' })
    expect(entries[5]).toMatchObject({ closedChannels: 1 })
  })

  it('[r] stops the whole command, not only the shell that runs it', async () => {
    const { pin, host } = await hostOnTerminal()
    const technician = connectExec(pin, 'sleep 30; echo still running')
    const promptEnd = await waitForExecPrompt(host, 'sleep 30; echo still running')
    await press(host, 'a')
    await host.waitFor('open now: command #1', { from: promptEnd })
    host.write('r')

    await technician.waitForExit(PROMPTLY_MS)
    expect(technician.stdout).not.toContain('still running')
    await host.waitFor('command ended by signal SIGHUP', { from: promptEnd, timeoutMs: PROMPTLY_MS })
    expect(await host.waitForExit(PROMPTLY_MS)).toEqual({ exitCode: 0, signal: undefined })
  })

  it('[r] while the technician has a shell open: connect exits 129 saying SIGHUP, revoked', async () => {
    const { pin, host } = await hostOnTerminal()
    const technician = world.track(await world.spawnPty('connect', ['connect', '--pin', pin]))
    const asks = await host.waitFor(`${ADMIN.email} wants to open a shell as ${USER} on this computer.`)
    await host.waitFor('[a] allow once', { from: asks.end })
    await press(host, 'a')
    await host.waitFor('open now: shell #1', { from: asks.end })
    host.write('r')

    expect(await technician.waitForExit(PROMPTLY_MS)).toEqual({ exitCode: 128 + 1, signal: undefined })
    expect(technician.output).toContain('the remote side was ended by SIGHUP: the end user revoked access')
  })

  it('a request allowed without asking (--auto-approve exec) never draws a prompt', async () => {
    const { pin, host } = await hostOnTerminal('--auto-approve', 'exec', '--trust-gateway')
    const technician = connectExec(pin, 'echo pre-approved')
    expect(await technician.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
    expect(technician.stdout).toBe('pre-approved\n')
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
    expect(host.output).toContain('exec allowed: pre-approved')
    expect(host.output).not.toContain('wants to')
  })
})

describe('rescue host on a terminal: the end user ends the session', () => {
  it('[q] asks first ([n] keeps the session); [q] [y] ends it for the technician, and host exits 0', async () => {
    const { pin, host, stateDir } = await hostOnTerminal()
    const technician = world.track(world.spawn('connect', ['connect', '--pin', pin]))
    const connected = await host.waitFor('[r] revoke every grant  [q] end the session')

    host.write('q')
    const asked = await host.waitFor('End the session now? [y] yes  [n] no', { from: connected.end })
    host.write('n')
    const kept = await host.waitFor('[r] revoke every grant  [q] end the session', { from: asked.end })
    expect(technician.exit).toBeUndefined()

    host.write('q')
    await host.waitFor('End the session now? [y] yes  [n] no', { from: kept.end })
    host.write('y')
    expect(await technician.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
    expect(technician.stdout).toContain('the end user ended the session')
    await host.waitFor('session ended: the end user ended the session', { from: kept.end })
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })

    const entries = await auditLog(stateDir)
    expect(eventNames(entries)).toEqual(['session-start', 'session-end'])
    expect(entries[1]).toMatchObject({ by: 'host', reason: 'the end user ended the session' })
  })

  it('[q] [y] while the technician runs a command: connect exits sessionEnded, saying so', async () => {
    const { pin, host } = await hostOnTerminal()
    const technician = connectExec(pin, 'echo started; exec sleep 30')
    await waitForExecPrompt(host, 'exec sleep 30')
    await press(host, 'a')
    await technician.waitForLine('the command’s output', (line) => line === 'started')
    host.write('q')
    await host.waitFor('End the session now? [y] yes  [n] no')
    host.write('y')

    expect(await technician.waitForExit(PROMPTLY_MS)).toEqual({
      exitCode: ExitCode.sessionEnded,
      signal: undefined,
    })
    expect(technician.stderr).toContain('the end user ended the session')
    expect(await host.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
  })
})

function collect() {
  const stream = new PassThrough()
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
}
