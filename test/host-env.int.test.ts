/**
 * What the technician's processes inherit from `rescue host`: an allow-list of the end user's
 * environment, never the host's own secrets. A real gateway, the real host (SSH server, consent
 * broker) and the technician's raw ssh2 client, which runs `env` as an attacker would, in a
 * command, in a shell without a terminal and in a shell on a PTY.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Client, ClientChannel } from 'ssh2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startHost, type HostSession } from '../src/core/host/index.js'
import { startTechnician, type TechnicianSession } from '../src/core/technician/index.js'
import { startTestGateway, type TestGateway } from './helpers/gateway.js'

const SECRET_NAMES = ['RESCUE_LOG_KEY', 'RESCUE_AUTO_APPROVE', 'RESCUE_TOKEN', 'RESCUE_PIN', 'SECRET_X']

let gw: TestGateway
let dir: string
let secrets: Record<string, string>
const saved: Record<string, string | undefined> = {}
let sides: { host: HostSession; technician: TechnicianSession } | undefined

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-env-'))
  gw = await startTestGateway()
  // What the end user's `rescue host` was started with: its own settings and a secret of theirs.
  secrets = {
    RESCUE_LOG_KEY: crypto.randomBytes(32).toString('base64'),
    RESCUE_AUTO_APPROVE: 'exec,shell',
    RESCUE_TOKEN: `rt_${crypto.randomBytes(16).toString('hex')}`,
    RESCUE_PIN: '123456',
    SECRET_X: crypto.randomBytes(16).toString('hex'),
  }
  for (const name of SECRET_NAMES) {
    saved[name] = process.env[name]
    process.env[name] = secrets[name]
  }
})

afterEach(async () => {
  if (sides) {
    sides.technician.session.end()
    sides.host.end()
    await Promise.all([sides.host.done, sides.technician.session.done])
    sides = undefined
  }
  for (const name of SECRET_NAMES) {
    if (saved[name] === undefined) delete process.env[name]
    else process.env[name] = saved[name]
  }
  await gw.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

async function pairAutoApproved(): Promise<Client> {
  const pin = await gw.newPin()
  const host = await startHost({
    server: gw.url,
    entry: { pin },
    interactive: false,
    confirmWords: false,
    // --auto-approve needs a --trust key or the operator's explicit word on the gateway: the test gives the latter.
    trustGateway: true,
    autoApprove: ['exec', 'shell'],
    auditFile: path.join(dir, 'audit.jsonl'),
    onEvent: () => {},
  })
  const technician = await startTechnician({
    server: gw.url,
    entry: { pin },
    token: gw.token,
    onEvent: () => {},
  })
  sides = { host, technician }
  return technician.ssh
}

/** Everything the channel printed, once it closes. */
function output(channel: ClientChannel): Promise<string> {
  const chunks: Buffer[] = []
  channel.on('data', (chunk: Buffer) => chunks.push(chunk))
  channel.stderr.on('data', (chunk: Buffer) => chunks.push(chunk))
  return new Promise((resolve) => channel.on('close', () => resolve(Buffer.concat(chunks).toString('utf8'))))
}

/** `NAME=value` lines as a map (values with new lines are not expected here). */
function parseEnv(text: string): Map<string, string> {
  const env = new Map<string, string>()
  for (const line of text.replaceAll('\r', '').split('\n')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (match) env.set(match[1]!, match[2]!)
  }
  return env
}

function expectNoSecret(text: string, env: Map<string, string>): void {
  for (const name of SECRET_NAMES) expect(env.has(name), `${name} reached the technician`).toBe(false)
  // Nor the random values under another name.
  for (const name of ['RESCUE_LOG_KEY', 'RESCUE_TOKEN', 'SECRET_X']) expect(text).not.toContain(secrets[name])
  expect([...env.keys()].filter((name) => name.startsWith('RESCUE_'))).toEqual([])
}

describe.skipIf(process.platform === 'win32')("the technician's environment on the host", () => {
  it('a command sees HOME and PATH, and none of the host process secrets', async () => {
    const client = await pairAutoApproved()
    const channel = await new Promise<ClientChannel>((resolve, reject) =>
      client.exec('env', (error, stream) => (error ? reject(error) : resolve(stream))),
    )
    const text = await output(channel)
    const env = parseEnv(text)
    expect(env.get('HOME')).toBe(process.env.HOME)
    expect(env.get('PATH')).toBeTruthy()
    expect(env.has('TERM')).toBe(false)
    expectNoSecret(text, env)
  })

  it('a shell on a PTY sees TERM from the pty request, and none of the secrets', async () => {
    const client = await pairAutoApproved()
    const channel = await new Promise<ClientChannel>((resolve, reject) =>
      client.shell({ term: 'xterm-rescue-test', cols: 200, rows: 50 }, (error, stream) =>
        error ? reject(error) : resolve(stream),
      ),
    )
    const done = output(channel)
    channel.end('env; exit\n')
    const text = await done
    const env = parseEnv(text)
    expect(env.get('TERM')).toBe('xterm-rescue-test')
    expect(env.get('HOME')).toBe(process.env.HOME)
    expect(env.get('PATH')).toBeTruthy()
    expectNoSecret(text, env)
  })

  it('a shell without a terminal (ssh -T) sees none of the secrets either', async () => {
    const client = await pairAutoApproved()
    const channel = await new Promise<ClientChannel>((resolve, reject) =>
      client.shell(false, (error, stream) => (error ? reject(error) : resolve(stream))),
    )
    const done = output(channel)
    channel.end('env\nexit\n')
    const text = await done
    const env = parseEnv(text)
    expect(env.get('HOME')).toBe(process.env.HOME)
    expectNoSecret(text, env)
  })
})
