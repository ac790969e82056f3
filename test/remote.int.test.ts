/**
 * The remote shell and commands end to end in one process: a real gateway on 127.0.0.1:0, the
 * host's SSH server and consent broker, the technician's SSH client, real child processes.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import type { SFTPWrapper } from 'ssh2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Permission } from '../src/core/consent/index.js'
import { startHost, type HostEvent, type HostSession } from '../src/core/host/index.js'
import { runRemoteCommand } from '../src/core/ssh/technician-client.js'
import { startTechnician, type TechnicianSession } from '../src/core/technician/index.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

let gw: TestGateway
let dir: string

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-remote-'))
  gw = await startTestGateway()
})
afterEach(async () => {
  await gw.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

async function pairBoth(options: { autoApprove?: Permission[]; interactive?: boolean } = {}) {
  const pin = await gw.newPin()
  const hostEvents: HostEvent[] = []
  const host: HostSession = await startHost({
    server: gw.url,
    entry: { pin },
    interactive: options.interactive ?? false,
    confirmWords: options.interactive ?? false,
    autoApprove: options.autoApprove ?? [],
    // These tests are about the remote channels, not the technician's identity (test/device-trust.int.test.ts).
    trustGateway: true,
    auditFile: path.join(dir, 'audit.jsonl'),
    onEvent: (event) => hostEvents.push(event),
  })
  const technician: TechnicianSession = await startTechnician({
    server: gw.url,
    entry: { pin },
    token: gw.token,
    onEvent: () => {},
  })
  const client = await technician.ssh
  if (options.interactive) {
    // The end user at the keyboard first confirms the words the technician reads them.
    await waitFor(() => hostEvents.some((event) => event.event === 'words-asked'))
    host.confirmWords(true)
    expect(await technician.words).toBe('confirmed')
  }
  return { host, hostEvents, technician, client }
}

function collect() {
  const stream = new PassThrough()
  const chunks: Buffer[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk))
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
}

describe('remote commands over the sealed session', () => {
  it('runs an auto-approved command with stdout, stderr and exit status apart', async () => {
    const { host, technician, client } = await pairBoth({ autoApprove: ['exec'] })
    const stdout = collect()
    const stderr = collect()
    const exit = await runRemoteCommand(client, 'echo $((6*7)); echo oops >&2; exit 7', {
      stdout: stdout.stream,
      stderr: stderr.stream,
    })
    expect(exit).toEqual({ exitCode: 7 })
    expect(stdout.text()).toBe('42\n')
    expect(stderr.text()).toBe('oops\n')
    technician.session.end()
    await host.done
  })

  it('denies a command when nobody can answer, and the audit log says so', async () => {
    const { host, hostEvents, technician, client } = await pairBoth()
    const out = collect()
    await expect(
      runRemoteCommand(client, 'touch /tmp/should-not', { stdout: out.stream, stderr: out.stream }),
    ).rejects.toThrow('denied by the end user')
    expect(hostEvents).toContainEqual(
      expect.objectContaining({ event: 'consent-decision', decision: 'deny', by: 'no-terminal' }),
    )
    technician.session.end()
    await host.done
    const log = fs.readFileSync(path.join(dir, 'audit.jsonl'), 'utf8')
    expect(log).toContain('"no-terminal"')
    expect(log).toContain('touch /tmp/should-not')
  })

  it('asks the end user, who allows once; the next request asks again', async () => {
    const { host, hostEvents, technician, client } = await pairBoth({ interactive: true })
    const answered = (async () => {
      await waitFor(() => hostEvents.some((e) => e.event === 'consent-request'))
      const request = hostEvents.find((e) => e.event === 'consent-request')!
      host.answer((request as { id: string }).id, 'once')
    })()
    const out = collect()
    const exit = await runRemoteCommand(client, 'echo allowed', { stdout: out.stream, stderr: out.stream })
    await answered
    expect(exit.exitCode).toBe(0)
    expect(out.text()).toBe('allowed\n')
    const second = runRemoteCommand(client, 'echo again', { stdout: out.stream, stderr: out.stream })
    await waitFor(() => hostEvents.filter((e) => e.event === 'consent-request').length === 2)
    const request = hostEvents.filter((e) => e.event === 'consent-request')[1] as { id: string }
    host.answer(request.id, 'deny')
    await expect(second).rejects.toThrow('denied')
    technician.session.end()
    await host.done
  })

  it("keeps channel opens, closes and consent outcomes in the gateway's session log, never the command", async () => {
    const { host, hostEvents, technician } = await pairBoth({ autoApprove: ['exec'] })
    const out = collect()
    await technician.exec('echo secret-output-1234', { stdout: out.stream, stderr: out.stream })
    await technician.exec('touch /nonexistent/dir/x || true', { stdout: out.stream, stderr: out.stream })
    const sessionId = (hostEvents.find((e) => e.event === 'paired') as { sessionId: string }).sessionId
    await waitFor(async () => (await gw.store.listSessionEvents(sessionId)).length >= 12)
    const events = await gw.store.listSessionEvents(sessionId)
    const from = (source: string) =>
      events.filter((e) => e.source === source).map((e) => [e.event, e.kind, e.allowed])
    // Each side says what it saw: the technician what it asked and opened, the host what it allowed and ran.
    expect(from('host')).toEqual(from('technician'))
    expect(from('technician')).toEqual([
      ['consent-decision', 'exec', 1],
      ['channel-open', 'exec', null],
      ['channel-close', 'exec', null],
      ['consent-decision', 'exec', 1],
      ['channel-open', 'exec', null],
      ['channel-close', 'exec', null],
    ])
    expect(JSON.stringify(events)).not.toContain('secret-output')
    technician.session.end()
    await host.done
  })

  it('puts a file on the host over SFTP once the end user allows it, with its SHA-256 in the audit log', async () => {
    const { host, hostEvents, technician, client } = await pairBoth({ interactive: true })
    hostEvents.length = 0
    const answering = setInterval(() => {
      for (const event of hostEvents.splice(0)) {
        if (event.event === 'consent-request') host.answer(event.id, 'once')
      }
    }, 10)
    const content = crypto.randomBytes(256 * 1024)
    const target = path.join(dir, 'fix.bin')
    try {
      const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
        client.sftp((error, wrapper) => (error ? reject(error) : resolve(wrapper))),
      )
      await new Promise<void>((resolve, reject) =>
        sftp.writeFile(target, content, (error) => (error ? reject(error) : resolve())),
      )
      sftp.end()
    } finally {
      clearInterval(answering)
    }
    expect(fs.readFileSync(target).equals(content)).toBe(true)
    technician.session.end()
    await host.done
    const log = fs
      .readFileSync(path.join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(log).toContainEqual(
      expect.objectContaining({
        event: 'file-transfer',
        direction: 'to-host',
        path: target,
        bytes: content.length,
        sha256: crypto.createHash('sha256').update(content).digest('hex'),
        complete: true,
      }),
    )
    expect(log).toContainEqual(
      expect.objectContaining({ event: 'consent-decision', permission: 'files.send' }),
    )
  })
})

describe("the gateway's session log of chat and files", () => {
  it('keeps chat lines both ways and files with name, size and SHA-256, sealed at rest', async () => {
    const { host, hostEvents, technician, client } = await pairBoth({ autoApprove: ['files.send'] })
    const { openChat } = await import('../src/core/chat/index.js')
    const chat = await openChat(client, { self: 'technician', onMessage: () => {}, onClose: () => {} })
    chat.send('rebooting the print spooler now')
    await waitFor(() => hostEvents.some((e) => e.event === 'chat'))
    host.chat('thanks, go ahead')
    const content = crypto.randomBytes(4096)
    const target = path.join(dir, 'spooler.conf')
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((error, wrapper) => (error ? reject(error) : resolve(wrapper))),
    )
    await new Promise<void>((resolve, reject) =>
      sftp.writeFile(target, content, (error) => (error ? reject(error) : resolve())),
    )
    sftp.end()
    const sessionId = (hostEvents.find((e) => e.event === 'paired') as { sessionId: string }).sessionId
    const logged = async () => (await gw.store.listSessionEvents(sessionId)).filter((e) => e.detail !== null)
    await waitFor(async () => (await logged()).length >= 3)
    const details = (await logged()).map((e) => ({
      event: e.event,
      kind: e.kind,
      source: e.source,
      ...(JSON.parse(gw.logCipher.open(e.detail!, sessionId)) as object),
    }))
    expect(details).toEqual([
      { event: 'chat', kind: 'technician', source: 'host', text: 'rebooting the print spooler now' },
      { event: 'chat', kind: 'host', source: 'host', text: 'thanks, go ahead' },
      {
        event: 'file-transfer',
        kind: 'to-host',
        source: 'host',
        path: target,
        bytes: 4096,
        sha256: crypto.createHash('sha256').update(content).digest('hex'),
        complete: true,
      },
    ])
    // At rest, the database holds none of it in the clear.
    const database = fs
      .readdirSync(gw.dataDir)
      .filter((name) => name.includes('.db') || name.includes('sqlite'))
      .map((name) => fs.readFileSync(path.join(gw.dataDir, name)).toString('latin1'))
      .join('')
    expect(database.length).toBeGreaterThan(0)
    expect(database).not.toContain('print spooler')
    expect(database).not.toContain('spooler.conf')
    chat.close()
    technician.session.end()
    await host.done
  })
})
