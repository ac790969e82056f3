/**
 * Who refused and why, end to end against a real gateway: the host's typed reason (the end user,
 * no answer in time, no terminal, the group's policy) reaches the technician's error with its own
 * message and exit code, directly and through the control socket that `rescue sysinfo` uses; and
 * the policy is checked before the end user is asked, for everything a folder transfer needs.
 */
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import ssh2 from 'ssh2'
import { afterEach, describe, expect, it } from 'vitest'
import { api } from '../src/core/client/index.js'
import type { Permission } from '../src/core/consent/index.js'
import { ExitCode } from '../src/core/errors.js'
import { startHost, type HostEvent, type HostSession } from '../src/core/host/index.js'
import { requestSysinfo } from '../src/core/sysinfo/subsystem.js'
import { startTechnician } from '../src/core/technician/index.js'
import { TransferChannel } from '../src/core/transfer/client.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

let gw: TestGateway | undefined
const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await gw?.close()
  gw = undefined
})

const PASSWORD = 'seven green bottles on the wall'
const sink = () => ({ stdout: new PassThrough().resume(), stderr: new PassThrough().resume() })

/** A gateway, a technician whose group allows `allow`, and an end user paired with them. */
async function paired(options: { allow?: Permission[]; interactive: boolean; consentTimeoutMs?: number }) {
  gw = await startTestGateway()
  let token = gw.token
  if (options.allow) {
    await api.admin.addGroup(gw.url, gw.token, 'helpdesk')
    await api.admin.setGroup(gw.url, gw.token, 'helpdesk', { allow: [...options.allow, 'private'] })
    const email = 'bob@acme.example'
    const { oneTimePassword } = await api.admin.addUser(gw.url, gw.token, { email, groups: ['helpdesk'] })
    const reply = await api.login(gw.url, { email, password: oneTimePassword, newPassword: PASSWORD })
    if (!('token' in reply)) throw new Error('no token')
    token = reply.token
  }
  const pin = (await api.createPin(gw.url, token)).pin
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-refusals-'))
  const events: HostEvent[] = []
  const host: HostSession = await startHost({
    server: gw.url,
    entry: { pin },
    interactive: options.interactive,
    confirmWords: false,
    // --auto-approve needs a --trust key or the operator's explicit word on the gateway: the test gives the latter.
    trustGateway: true,
    autoApprove: [],
    ...(options.consentTimeoutMs ? { consentTimeoutMs: options.consentTimeoutMs } : {}),
    auditFile: path.join(dir, 'audit.jsonl'),
    onEvent: (event) => events.push(event),
  })
  const tech = await startTechnician({
    server: gw.url,
    entry: { pin },
    token,
    onEvent: () => {},
    controlDir: dir,
  })
  cleanups.push(async () => {
    tech.session.end()
    await tech.session.done
    await host.done
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const client = await tech.ssh
  const requests = () => events.filter((event) => event.event === 'consent-request')
  const decisions = () =>
    events.filter((event) => event.event === 'consent-decision') as Extract<
      HostEvent,
      { event: 'consent-decision' }
    >[]
  return { host, tech, client, dir, events, requests, decisions }
}

/** An SSH client on the live session's control socket, as `rescue sysinfo` opens it. */
async function controlClient(dir: string): Promise<ssh2.Client> {
  await waitFor(() => fs.readdirSync(dir).some((name) => name.endsWith('.sock')), 5000, 'the control socket')
  const socket = path.join(
    dir,
    fs.readdirSync(dir).find((name) => name.endsWith('.sock'))!,
  )
  const client = new ssh2.Client()
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject)
    client.connect({ sock: net.connect(socket), username: 'rescue' })
  })
  cleanups.push(() => void client.end())
  return client
}

describe('the technician learns who refused and why', () => {
  it('the end user said no: "the end user denied the command", exit 15', async () => {
    const { tech, host, requests } = await paired({ interactive: true })
    const running = tech.exec('id', sink())
    await waitFor(() => requests().length === 1)
    host.answer(requests()[0]!.id, 'deny')
    const error = await running.catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'denied', message: 'the end user denied the command' })
    expect((error as { exitCode: number }).exitCode).toBe(ExitCode.denied)
  })

  it('nobody answered: "the end user did not answer within 1 s", exit 15', async () => {
    const { tech } = await paired({ interactive: true, consentTimeoutMs: 1000 })
    const error = await tech.shell().catch((caught: unknown) => caught)
    expect(error).toMatchObject({
      code: 'denied',
      message: 'the end user did not answer within 1 s (the shell)',
      exitCode: 15,
    })
  })

  it('no terminal at the host: says so, exit 15, and hints at --auto-approve', async () => {
    const { tech } = await paired({ interactive: false })
    const error = await tech.exec('id', sink()).catch((caught: unknown) => caught)
    expect(error).toMatchObject({
      code: 'denied',
      message: "no one is at the host's terminal to allow the command",
      hint: expect.stringContaining('--auto-approve'),
    })
  })

  it('through the control socket (rescue sysinfo): the reason and exit code cross the bridge', async () => {
    const { dir } = await paired({ interactive: true, consentTimeoutMs: 1000 })
    const local = await controlClient(dir)
    await expect(requestSysinfo(local, { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'denied',
      message: 'the end user did not answer within 1 s (system information)',
    })
  })

  it('the group’s policy: refused by the gateway through the control socket, exit 17, never asked', async () => {
    const { dir, requests } = await paired({ allow: ['shell'], interactive: true })
    const local = await controlClient(dir)
    const error = await requestSysinfo(local, { timeoutMs: 10_000 }).catch((caught: unknown) => caught)
    expect(error).toMatchObject({
      code: 'forbidden',
      message: 'your groups do not allow sysinfo',
      exitCode: 17,
    })
    expect(requests()).toEqual([])
  })
})

describe('policy before the end user', () => {
  it('a folder send that needs files.browse, which the policy does not allow, is refused without a prompt', async () => {
    const { client, decisions, events } = await paired({ allow: ['files.send'], interactive: true })
    const transfers = await TransferChannel.open(client)
    const target = path.join(os.tmpdir(), `rescue-refusals-${process.pid}`)
    const started = Date.now()
    await expect(transfers.plan('to-host', target, { files: 1, bytes: 3 })).rejects.toMatchObject({
      code: 'forbidden',
      message: "your group's policy does not allow looking through folders (files.browse)",
      exitCode: 17,
    })
    // Decided at once, by policy: the interactive end user was never left a prompt to answer.
    expect(Date.now() - started).toBeLessThan(2000)
    expect(decisions()).toEqual([
      expect.objectContaining({ permission: 'files.send', decision: 'deny', by: 'policy' }),
    ])
    const request = events.findIndex((event) => event.event === 'consent-request')
    expect(events[request + 1]).toMatchObject({ event: 'consent-decision', by: 'policy' })
    transfers.close()
  })
})
