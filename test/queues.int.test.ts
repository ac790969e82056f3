/**
 * Queues and the permission policy against a real gateway: an end user in a group's shared queue,
 * two technicians racing to take the session, PIN sessions in their owner's private queue, and a
 * host that refuses what the technician's groups deny even when the technician's client skips
 * every check of its own.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { api } from '../src/core/client/index.js'
import type { Permission } from '../src/core/consent/index.js'
import { UserError } from '../src/core/errors.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import type { SFTPWrapper } from 'ssh2'
import { openRemoteShell, runRemoteCommand } from '../src/core/ssh/technician-client.js'
import { requestSysinfo } from '../src/core/sysinfo/subsystem.js'
import { startTechnician } from '../src/core/technician/index.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

let gw: TestGateway | undefined
const cleanups: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  await gw?.close()
  gw = undefined
})

const PASSWORD = 'seven green bottles on the wall'

/** A technician in `groups`, logged in with a password of their own. */
async function technician(email: string, groups: string[]): Promise<string> {
  const { oneTimePassword } = await api.admin.addUser(gw!.url, gw!.token, { email, groups })
  const reply = await api.login(gw!.url, { email, password: oneTimePassword, newPassword: PASSWORD })
  if (!('token' in reply)) throw new Error(`no token for ${email}`)
  return reply.token
}

/** The helpdesk's channel link secret, made by the admin: what lets end users into its queue. */
let helpdeskSecret = ''

async function helpdesk(allow: string[]) {
  gw = await startTestGateway()
  await api.admin.addGroup(gw.url, gw.token, 'helpdesk')
  await api.admin.setGroup(gw.url, gw.token, 'helpdesk', { allow })
  helpdeskSecret = (await api.admin.createChannelLink(gw.url, gw.token, { group: 'helpdesk' })).secret
}

/** An end user waiting (in the helpdesk's shared queue unless `entry` says otherwise), ended with the test. */
async function hostWaiting(
  options: {
    entry?: { pin: string } | { channelSecret: string }
    autoApprove?: Permission[]
    interactive?: boolean
  } = {},
) {
  const events: HostEvent[] = []
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-queue-'))
  const auditFile = path.join(dir, 'audit.jsonl')
  const host = await startHost({
    server: gw!.url,
    entry: options.entry ?? { channelSecret: helpdeskSecret },
    interactive: options.interactive ?? false,
    confirmWords: options.interactive ?? false,
    autoApprove: options.autoApprove ?? [],
    // These tests are about queues and policy, not the technician's identity.
    trustGateway: true,
    auditFile,
    onEvent: (event) => events.push(event),
  })
  cleanups.push(async () => {
    host.end()
    await host.done
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await waitFor(() => events.some((event) => event.event === 'waiting'))
  const waiting = events.find((event) => event.event === 'waiting') as { sessionId: string }
  return { host, events, sessionId: waiting.sessionId, auditFile }
}

/** An end user with no terminal in the helpdesk's shared queue, `autoApprove` pre-approved. */
function hostInChannel(autoApprove: Permission[] = []) {
  return hostWaiting({ autoApprove })
}

/** A technician taking `sessionId` from a queue, ended when the test is. */
async function take(sessionId: string, token: string) {
  const taken = await startTechnician({ server: gw!.url, entry: { sessionId }, token, onEvent: () => {} })
  cleanups.push(async () => {
    taken.session.end()
    await taken.session.done
  })
  return taken
}

describe('queues', () => {
  it('a channel session waits in the group’s queue; two technicians race and exactly one takes it', async () => {
    await helpdesk(['shell', 'exec'])
    const bob = await technician('bob@acme.example', ['helpdesk'])
    const carol = await technician('carol@acme.example', ['helpdesk'])
    const { sessionId, events } = await hostInChannel()

    for (const token of [bob, carol]) {
      expect((await api.queue(gw!.url, token)).sessions).toEqual([
        expect.objectContaining({ sessionId, channel: 'helpdesk', waitingSince: expect.any(String) }),
      ])
    }
    const race = await Promise.allSettled(
      [bob, carol].map((token) =>
        startTechnician({ server: gw!.url, entry: { sessionId }, token, onEvent: () => {} }),
      ),
    )
    const won = race.filter((result) => result.status === 'fulfilled')
    const lost = race.filter((result) => result.status === 'rejected')
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(1)
    const reason = (lost[0] as PromiseRejectedResult).reason as UserError
    expect(reason).toBeInstanceOf(UserError)
    expect(reason.code).toBe('conflict')
    expect(reason.message).toBe('another technician already took this session')
    const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof startTechnician>>>).value
    cleanups.push(async () => {
      winner.session.end()
      await winner.session.done
    })
    await winner.ssh
    await waitFor(() => events.some((event) => event.event === 'paired'))
    // Taken: no longer in anyone's queue, and the row says who took it.
    expect((await api.queue(gw!.url, bob)).sessions).toEqual([])
    const row = await gw!.store.findSession(sessionId)
    expect(row?.taken_by).toBeTruthy()
    expect(row?.channel_id).toBeTruthy()
  })

  it('a technician outside the group neither sees nor takes the session; a PIN session is its owner’s alone', async () => {
    await helpdesk(['shell'])
    await api.admin.addGroup(gw!.url, gw!.token, 'field')
    await api.admin.setGroup(gw!.url, gw!.token, 'field', { allow: ['shell', 'private'] })
    const dave = await technician('dave@acme.example', ['field'])
    const { sessionId } = await hostInChannel()
    expect((await api.queue(gw!.url, dave)).sessions).toEqual([])
    await expect(
      startTechnician({ server: gw!.url, entry: { sessionId }, token: dave, onEvent: () => {} }),
    ).rejects.toMatchObject({ code: 'forbidden' })

    // The admin's PIN session: in the admin's queue, not in dave's.
    const pin = await gw!.newPin()
    const { sessionId: pinSession } = await hostWaiting({ entry: { pin } })
    expect((await api.queue(gw!.url, gw!.token)).sessions.map((s) => s.sessionId)).toContain(pinSession)
    expect((await api.queue(gw!.url, dave)).sessions).toEqual([])
    await expect(
      startTechnician({ server: gw!.url, entry: { sessionId: pinSession }, token: dave, onEvent: () => {} }),
    ).rejects.toMatchObject({ code: 'forbidden' })
  })

  it('an end user with a wrong or revoked channel link is told so', async () => {
    await helpdesk(['shell'])
    const join = (channelSecret: string) =>
      startHost({
        server: gw!.url,
        entry: { channelSecret },
        interactive: false,
        confirmWords: false,
        autoApprove: [],
        auditFile: path.join(os.tmpdir(), `rescue-nope-${process.pid}.jsonl`),
        onEvent: () => {},
      })
    const refusal = { code: 'pinInvalid', message: 'no such channel link (it may have been revoked)' }
    await expect(join('x'.repeat(43))).rejects.toMatchObject(refusal)
    await api.admin.revokeChannelLink(gw!.url, gw!.token, 'helpdesk')
    await expect(join(helpdeskSecret)).rejects.toMatchObject(refusal)
  })
})

describe('the gateway refuses what the technician’s groups deny', () => {
  it('before the end user is asked: exec denied with its reason, logged as the gateway’s refusal', async () => {
    await helpdesk(['shell'])
    const bob = await technician('bob@acme.example', ['helpdesk'])
    const { sessionId, events } = await hostInChannel(['exec'])
    const tech = await take(sessionId, bob)
    await tech.ssh
    // A policy refusal is exit 17 (forbidden), not the end user's "no" (15).
    await expect(tech.exec('id', { stdout: process.stdout, stderr: process.stderr })).rejects.toMatchObject({
      code: 'forbidden',
      message: 'your groups do not allow exec',
    })
    // The host never even saw the request.
    expect(events.some((event) => event.event === 'consent-request')).toBe(false)
    const logged = await gw!.store.listSessionEvents(sessionId)
    expect(logged).toContainEqual(
      expect.objectContaining({ source: 'gateway', event: 'consent-decision', kind: 'exec', allowed: 0 }),
    )
    // What the groups allow goes on to the host, which has no terminal to ask on, and says so (15).
    await expect(tech.shell({ term: 'xterm', cols: 80, rows: 24 })).rejects.toMatchObject({
      code: 'denied',
      message: "no one is at the host's terminal to allow the shell",
    })
    expect(events).toContainEqual(expect.objectContaining({ event: 'consent-request', permission: 'shell' }))
  })
})

describe('the host enforces the policy the gateway sent', () => {
  it('refuses a command the group denies even when auto-approved and asked by a client that skips every check', async () => {
    await helpdesk(['shell'])
    const bob = await technician('bob@acme.example', ['helpdesk'])
    const marker = path.join(os.tmpdir(), `rescue-policy-marker-${process.pid}`)
    fs.rmSync(marker, { force: true })
    const { sessionId, events } = await hostInChannel(['exec'])
    const tech = await take(sessionId, bob)
    // runRemoteCommand is the raw SSH request: nothing on the technician's side checks the policy.
    const client = await tech.ssh
    await expect(
      runRemoteCommand(client, `touch ${marker}`, { stdout: process.stdout, stderr: process.stderr }),
    ).rejects.toThrow('denied')
    expect(fs.existsSync(marker)).toBe(false)
    expect(events).toContainEqual(
      expect.objectContaining({
        event: 'consent-decision',
        permission: 'exec',
        decision: 'deny',
        by: 'policy',
      }),
    )
    const paired = events.find((event) => event.event === 'paired') as { policy?: { permissions: string[] } }
    expect(paired.policy?.permissions).toEqual(['shell'])
  })
})

describe('transfer', () => {
  it('moves a live session to another technician: fresh pairing, new words, every grant revoked', async () => {
    await helpdesk(['exec', 'transfer'])
    const bob = await technician('bob@acme.example', ['helpdesk'])
    const carol = await technician('carol@acme.example', ['helpdesk'])
    const { host, events, sessionId, auditFile } = await hostWaiting({ interactive: true })
    // The end user confirms each pairing's words and answers each prompt as it comes: "for this
    // session" the first time.
    const answers: ('session' | 'once')[] = ['session', 'once']
    const answering = setInterval(() => {
      for (const event of events) {
        if (event.event === 'consent-request' && !(event as { answered?: boolean }).answered) {
          ;(event as { answered?: boolean }).answered = true
          host.answer(event.id, answers.shift() ?? 'once')
        }
        if (event.event === 'words-asked' && !(event as { answered?: boolean }).answered) {
          ;(event as { answered?: boolean }).answered = true
          host.confirmWords(true)
        }
      }
    }, 10)
    cleanups.push(() => clearInterval(answering))

    const first = await startTechnician({
      server: gw!.url,
      entry: { sessionId },
      token: bob,
      onEvent: () => {},
    })
    await first.ssh
    const out = { stdout: process.stdout, stderr: process.stderr }
    expect((await first.exec('true', out)).exitCode).toBe(0)
    expect((await first.exec('true', out)).exitCode).toBe(0)
    const firstPairing = events.find((event) => event.event === 'paired') as {
      sas: string
      technician: { email: string }
    }
    expect(firstPairing.technician.email).toBe('bob@acme.example')
    const asked = () => events.filter((event) => event.event === 'consent-request').length
    expect(asked()).toBe(2) // the second exec went through on the session grant

    const moved = await api.transfer(gw!.url, bob, sessionId, 'carol@acme.example')
    expect(moved.to.email).toBe('carol@acme.example')
    expect(await first.session.done).toMatchObject({ event: 'ended' })
    await waitFor(() => events.some((event) => event.event === 'transferred'))
    expect(events.find((event) => event.event === 'transferred')).toMatchObject({
      to: { email: 'carol@acme.example' },
    })
    // Listed as handed over by bob, not as carol's own PIN.
    expect((await api.queue(gw!.url, carol)).sessions).toEqual([
      expect.objectContaining({ sessionId, transferredFrom: 'bob@acme.example' }),
    ])
    expect((await api.queue(gw!.url, bob)).sessions).toEqual([])

    const second = await take(sessionId, carol)
    await second.ssh
    const pairings = events.filter((event) => event.event === 'paired') as {
      sas: string
      technician: { email: string }
    }[]
    expect(pairings).toHaveLength(2)
    expect(pairings[1]!.technician.email).toBe('carol@acme.example')
    expect(pairings[1]!.sas).not.toBe(pairings[0]!.sas)
    // The new technician's words are confirmed afresh before anything of theirs is asked.
    expect(events.filter((event) => event.event === 'words-asked')).toHaveLength(2)
    // The grant made for bob's session does not carry over: carol's command is asked again.
    expect((await second.exec('true', out)).exitCode).toBe(0)
    expect(asked()).toBe(3)
    const audit = fs.readFileSync(auditFile, 'utf8')
    expect(audit).toContain('"session-transferred"')
    expect((await gw!.store.findSession(sessionId))?.technician_id).toBeTruthy()
    const trail = await api.admin.audit(gw!.url, gw!.token, 100)
    expect(trail.entries.map((entry) => entry.action)).toContain('sessions.transfer')
  })

  it('is refused when the groups do not allow it', async () => {
    await helpdesk(['exec'])
    const bob = await technician('bob@acme.example', ['helpdesk'])
    await technician('carol@acme.example', ['helpdesk'])
    const { sessionId } = await hostInChannel()
    const tech = await take(sessionId, bob)
    await tech.ssh
    await expect(api.transfer(gw!.url, bob, sessionId, 'carol@acme.example')).rejects.toMatchObject({
      code: 'forbidden',
      message: 'your groups do not allow transferring sessions',
    })
  })
})

describe('every permission the group denies', () => {
  it('is refused by the gateway, and by the host when a client skips the gateway', async () => {
    // The group allows nothing but chat (always allowed) and taking sessions.
    await helpdesk(['transfer'])
    const bob = await technician('bob@acme.example', ['helpdesk'])
    const { sessionId, events } = await hostInChannel([
      'shell',
      'exec',
      'files.send',
      'files.receive',
      'sysinfo',
    ])
    const tech = await take(sessionId, bob)
    const client = await tech.ssh
    for (const permission of [
      'shell',
      'exec',
      'files.send',
      'files.receive',
      'files.browse',
      'files.modify',
      'sysinfo',
    ] as const) {
      await expect(tech.check([permission]), permission).rejects.toMatchObject({
        code: 'forbidden',
        message: `your groups do not allow ${permission}`,
      })
    }
    // Now straight at the host, each request its own way: all refused by policy, whatever --auto-approve says.
    const out = { stdout: process.stdout, stderr: process.stderr }
    // The raw requests fail without a reason; the host told it on refusals@rescue just before.
    await expect(runRemoteCommand(client, 'id', out)).rejects.toThrow('denied')
    await expect(tech.explain('exec')).resolves.toMatchObject({
      code: 'forbidden',
      message: "your group's policy does not allow the command (exec)",
    })
    await expect(openRemoteShell(client, { term: 'xterm', cols: 80, rows: 24 })).rejects.toThrow('denied')
    await expect(tech.explain('shell')).resolves.toMatchObject({
      code: 'forbidden',
      message: "your group's policy does not allow the shell (shell)",
    })
    await expect(requestSysinfo(client, { timeoutMs: 5000, explain: tech.explain })).rejects.toMatchObject({
      code: 'forbidden',
      message: "your group's policy does not allow system information (sysinfo)",
    })
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((error, opened) => (error ? reject(error) : resolve(opened))),
    )
    const open = (where: string, flags: 'r' | 'w') =>
      new Promise<void>((resolve, reject) =>
        sftp.open(where, flags, (error) => (error ? reject(error) : resolve())),
      )
    await expect(open('/etc/hostname', 'r')).rejects.toThrow(
      "your group's policy does not allow reading files from this computer (files.receive)",
    )
    await expect(open(path.join(os.tmpdir(), `rescue-policy-${process.pid}`), 'w')).rejects.toThrow(
      "your group's policy does not allow sending files to this computer (files.send)",
    )
    sftp.end()
    const refused = events
      .filter((event) => event.event === 'consent-decision')
      .map((event) => [(event as { permission: string }).permission, (event as { by: string }).by])
    expect(refused).toEqual([
      ['exec', 'policy'],
      ['shell', 'policy'],
      ['sysinfo', 'policy'],
      ['files.receive', 'policy'],
      ['files.send', 'policy'],
    ])
  })
})
