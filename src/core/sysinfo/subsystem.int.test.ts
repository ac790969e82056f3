/**
 * The sysinfo subsystem over a real ssh2 Server and Client on 127.0.0.1: the host collects this
 * machine's real information, and a host that refuses the request reads as the end user saying no.
 */
import type net from 'node:net'
import ssh2 from 'ssh2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UserError } from '../errors.js'
import { generateSshKeyPair } from '../ssh/keys.js'
import { formatSystemInfo, SYSINFO_SUBSYSTEM } from './index.js'
import { requestSysinfo, serveSysinfo } from './subsystem.js'

// Through the project's generator: ssh2's own returns an unparseable key about 1 time in 200.
const hostKey = generateSshKeyPair().privateKey
let server: ssh2.Server
let port: number
let consent: boolean
// A hostile host: when set, answers the subsystem with these bytes instead of real information.
let hostile: Buffer | undefined
const clients: ssh2.Client[] = []

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

beforeEach(async () => {
  consent = true
  hostile = undefined
  server = new ssh2.Server({ hostKeys: [hostKey] }, (connection) => {
    connection.on('error', () => {})
    connection.on('authentication', (context) => context.accept())
    connection.on('ready', () => {
      connection.on('session', (accept) => {
        accept().on('subsystem', (acceptSubsystem, rejectSubsystem, info) => {
          if (info.name !== SYSINFO_SUBSYSTEM || !consent) return rejectSubsystem()
          const channel = acceptSubsystem()
          if (!hostile) return void serveSysinfo(channel)
          channel.on('error', () => {})
          channel.end(hostile)
        })
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as net.AddressInfo).port
})

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy()
  await within(new Promise<void>((resolve) => server.close(() => resolve())), 5000, 'the server to close')
})

async function connect(): Promise<ssh2.Client> {
  const client = new ssh2.Client()
  clients.push(client)
  await within(
    new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject)
      client.connect({ host: '127.0.0.1', port, username: 'technician', password: 'x' })
    }),
    10_000,
    'the SSH connection',
  )
  return client
}

describe('the sysinfo subsystem', () => {
  it('brings back this machine’s real system information', async () => {
    const client = await connect()
    const info = await within(requestSysinfo(client), 30_000, 'system information')
    expect(info.os?.kernel).toBeTruthy()
    expect(info.memory?.totalBytes).toBeGreaterThan(0)
    expect(info.disks.length).toBeGreaterThan(0)
    expect(info.processes?.top.length).toBeGreaterThan(0)
    expect(info.uptimeSeconds).toBeGreaterThan(0)
    expect(formatSystemInfo(info).join('\n')).toContain(info.os?.kernel)
  })

  it('reads a refused request as the end user saying no', async () => {
    consent = false
    const client = await connect()
    const error = await within(
      requestSysinfo(client).catch((caught: unknown) => caught),
      10_000,
      'the refusal',
    )
    expect(error).toBeInstanceOf(UserError)
    expect(error).toMatchObject({ code: 'denied', message: 'denied by the end user' })
  })

  it.each([
    ['more than 8 MiB', Buffer.alloc(9 * 1024 * 1024, 0x20), /more than 8 MiB/],
    ['something that is not JSON', Buffer.from('\u001b[2J{"os":'), /not JSON/],
    ['JSON in another shape', Buffer.from('{"disks":"C:"}'), /unknown shape/],
  ])('fails with a UserError when the host sends %s', async (_what, data, message) => {
    hostile = data
    const client = await connect()
    const error = await within(
      requestSysinfo(client).catch((caught: unknown) => caught),
      20_000,
      'the failure',
    )
    expect(error).toBeInstanceOf(UserError)
    expect(error).toMatchObject({ code: 'failure', message: expect.stringMatching(message) as unknown })
  })
})
