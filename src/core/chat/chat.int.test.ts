/**
 * Chat over a real ssh2 Server and Client on 127.0.0.1: the technician opens the `chat@rescue`
 * subsystem, and a line each way arrives labelled with its sender.
 */
import type net from 'node:net'
import ssh2 from 'ssh2'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { UserError } from '../errors.js'
import { generateSshKeyPair } from '../ssh/keys.js'
import { CHAT_SUBSYSTEM, openChat, serveChat, type ChatLink, type ChatMessage } from './index.js'

// ssh2's own generator now and then makes an ed25519 key its parser refuses; ours retries (ssh/keys.ts).
const hostKey = generateSshKeyPair().privateKey
let server: ssh2.Server
let port: number
let hostReceived: ChatMessage[]
let hostLinks: Promise<ChatLink>
const clients: ssh2.Client[] = []

beforeEach(async () => {
  hostReceived = []
  let resolveHostLink: (link: ChatLink) => void = () => {}
  hostLinks = new Promise((resolve) => (resolveHostLink = resolve))
  server = new ssh2.Server({ hostKeys: [hostKey] }, (connection) => {
    connection.on('error', () => {})
    connection.on('authentication', (context) => context.accept())
    connection.on('ready', () => {
      connection.on('session', (accept) => {
        accept().on('subsystem', (acceptSubsystem, reject, info) => {
          if (info.name !== CHAT_SUBSYSTEM) {
            reject()
            return
          }
          resolveHostLink(
            serveChat(acceptSubsystem(), {
              self: 'host',
              onMessage: (message) => hostReceived.push(message),
            }),
          )
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

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

function connect(): Promise<ssh2.Client> {
  const client = new ssh2.Client()
  clients.push(client)
  return within(
    new Promise((resolve, reject) => {
      client.once('ready', () => resolve(client))
      client.once('error', reject)
      client.connect({ host: '127.0.0.1', port, username: 'rescue', password: 'any' })
    }),
    5000,
    'SSH to connect',
  )
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

it('carries a line each way, labelled with the sender', async () => {
  const client = await connect()
  const technicianReceived: ChatMessage[] = []
  let technicianClosed = false
  const technician = await within(
    openChat(client, {
      self: 'technician',
      onMessage: (message) => technicianReceived.push(message),
      onClose: () => (technicianClosed = true),
    }),
    5000,
    'the chat to open',
  )
  const host = await within(hostLinks, 5000, 'the host to serve chat')

  const sent = technician.send('Hello from the technician')
  host.send('Hello from the end user')
  await until(() => hostReceived.length === 1 && technicianReceived.length === 1, 'both lines')
  expect(hostReceived[0]).toEqual({ from: 'technician', time: sent.time, text: 'Hello from the technician' })
  expect(technicianReceived[0]).toMatchObject({ from: 'host', text: 'Hello from the end user' })

  host.close()
  await until(() => technicianClosed, 'the technician to see the chat close')
})

it('fails with a UserError when the host refuses the subsystem', async () => {
  server.removeAllListeners('connection')
  server.on('connection', (connection) => {
    connection.on('error', () => {})
    connection.on('authentication', (context) => context.accept())
    connection.on('ready', () => {
      connection.on('session', (accept) => accept().on('subsystem', (_accept, reject) => reject()))
    })
  })
  const client = await connect()
  await expect(
    within(openChat(client, { self: 'technician', onMessage: () => {} }), 5000, 'the refusal'),
  ).rejects.toThrow(UserError)
})
