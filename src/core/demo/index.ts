/**
 * The whole flow on one machine, for a newcomer and the README's quick start: a gateway on a free
 * loopback port over a throwaway data directory, an admin who logs in and makes a PIN, an end
 * user's host and a technician who pair with it, and the technician ending the session. Narrates
 * each step and reports both sides' session events. Imports core only.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createPin, initOrganisation, login, PIN_TTL } from '../accounts/index.js'
import { BugError } from '../errors.js'
import { startGateway } from '../gateway/index.js'
import type { Role } from '../gateway/control-messages.js'
import { startSession, type SessionEnded, type SessionEvent } from '../session/index.js'
import { openStore } from '../store/index.js'

export interface DemoOptions {
  narrate: (line: string) => void
  onEvent: (role: Role, event: SessionEvent) => void
  /** How long the paired session stays up before the technician ends it. */
  holdMs?: number
}

export interface DemoResult {
  sas: Record<Role, string>
  ended: Record<Role, SessionEnded>
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { narrate } = options
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-demo-'))
  const store = await openStore({ dataDir })
  try {
    const gateway = await startGateway({ store, host: '127.0.0.1', port: 0 })
    try {
      narrate(`1. started a gateway at ${gateway.url}, with a throwaway database in ${dataDir}`)
      const password = randomBytes(12).toString('base64url')
      const admin = await initOrganisation(store, {
        email: 'alice@acme.example',
        name: 'Alice (technician)',
        organisation: 'Acme IT',
        password,
      })
      const { token } = await login(store, admin.email, password)
      narrate(
        `2. created the organisation "${admin.organisation}" and its admin ${admin.email}, who logged in`,
      )
      const { pin } = await createPin(
        store,
        (await store.findUserByEmail(admin.email))!.id,
        PIN_TTL.defaultMs,
      )
      narrate(`3. the technician made PIN ${pin}; the end user runs: rescue host --pin ${pin}`)

      const paired: Partial<Record<Role, string>> = {}
      const onEvent = (role: Role) => (event: SessionEvent) => {
        if (event.event === 'paired') paired[role] = event.sas
        options.onEvent(role, event)
      }
      const host = await startSession({ server: gateway.url, pin, role: 'host', onEvent: onEvent('host') })
      narrate('4. the end user is waiting; the technician runs: rescue connect --pin ' + pin)
      const technician = await startSession({
        server: gateway.url,
        pin,
        role: 'technician',
        token,
        onEvent: onEvent('technician'),
      })
      await waitUntil(() => paired.host !== undefined && paired.technician !== undefined, host, technician)
      narrate(`5. paired end to end: both sides show "${paired.host}"; the gateway relayed only ciphertext`)
      await new Promise((resolve) => setTimeout(resolve, options.holdMs ?? 500))
      technician.end()
      const ended = { host: await host.done, technician: await technician.done }
      narrate(`6. the technician ended the session; the end user was told: "${ended.host.reason}"`)
      return { sas: { host: paired.host!, technician: paired.technician! }, ended }
    } finally {
      await gateway.close()
    }
  } finally {
    await store.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

async function waitUntil(
  condition: () => boolean,
  ...sessions: { done: Promise<SessionEnded> }[]
): Promise<void> {
  let stopped = false
  const endedEarly = Promise.race(sessions.map((session) => session.done)).then((ended) => {
    if (!stopped) throw new BugError(`the demo session ended before pairing: ${ended.reason}`)
  })
  const deadline = Date.now() + 15_000
  try {
    while (!condition()) {
      if (Date.now() > deadline) throw new BugError('the demo did not pair within 15 s')
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 20)), endedEarly])
    }
  } finally {
    stopped = true
  }
}
