/**
 * The whole flow on one machine, for a newcomer and the README's quick start: a gateway on a free
 * loopback port over a throwaway data directory, an admin who logs in and makes a PIN, an end
 * user's host and a technician who pair with it; the technician runs a command and opens a shell,
 * each behind the end user's consent, then ends the session; the host's audit log is shown.
 * Narrates each step and reports both sides' events. Who answers the prompts and drives the
 * shell is the caller's choice (the person at the keyboard, or a script). Imports core only.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { createPin, initOrganisation, login, PIN_TTL } from '../accounts/index.js'
import { formatAuditLine, readAuditLog } from '../audit/index.js'
import type { ConsentRequest, Decision } from '../consent/index.js'
import { BugError } from '../errors.js'
import { startGateway } from '../gateway/index.js'
import type { Role } from '../protocol/control-messages.js'
import { startHost, type HostEvent } from '../host/index.js'
import type { SessionEnded } from '../session/index.js'
import { type RemoteExit } from '../ssh/technician-client.js'
import { startTechnician, type TechnicianEvent, type TechnicianSession } from '../technician/index.js'
import { openStore } from '../store/index.js'

export interface DemoOptions {
  narrate: (line: string) => void
  onEvent: (role: Role, event: HostEvent | TechnicianEvent) => void
  /**
   * The end user's answer to "do the words your technician reads you match these?", given both
   * sides' words (the demo holds both ends); no answer in time ends the session.
   */
  confirmWords: (sas: Record<Role, string>, deadline: string) => Promise<boolean>
  /** Answers the host's consent prompts, as the end user at the keyboard would. */
  answer: (request: ConsentRequest) => Promise<Decision>
  /** Uses the technician's connection for a shell: interactive on a terminal, scripted otherwise. */
  shell: (technician: TechnicianSession) => Promise<RemoteExit>
  /** Aborted on Ctrl-C: ends both sides' sessions, so the demo unwinds and still cleans up. */
  stop?: AbortSignal
}

export interface DemoResult {
  sas: Record<Role, string>
  /** What the remote command printed and how it exited. */
  command: { line: string; output: string; exitCode?: number }
  shell: RemoteExit
  auditEntries: number
  ended: Record<Role, SessionEnded>
}

/** The command the demo's technician runs on the end user's computer. */
export const DEMO_COMMAND = 'echo "hello from $(whoami) on $(uname -n)"'

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
      let onBothPaired!: (sas: Record<Role, string>) => void
      const bothPaired = new Promise<Record<Role, string>>((resolve) => (onBothPaired = resolve))
      const onEvent = (role: Role) => (event: HostEvent | TechnicianEvent) => {
        if (event.event === 'paired') paired[role] = event.sas
        if (paired.host !== undefined && paired.technician !== undefined) {
          onBothPaired({ host: paired.host, technician: paired.technician })
        }
        options.onEvent(role, event)
      }
      const auditFile = path.join(dataDir, 'audit.jsonl')
      const host = await startHost({
        server: gateway.url,
        entry: { pin },
        interactive: true,
        // The end user confirms the words first, as at any attended host.
        confirmWords: true,
        autoApprove: [],
        auditFile,
        onEvent(event) {
          onEvent('host')(event)
          if (event.event === 'words-asked') {
            const deadline = event.deadline
            void bothPaired
              .then((sas) => options.confirmWords(sas, deadline))
              .then((match) => host.confirmWords(match))
          }
          if (event.event === 'consent-request') {
            void options.answer(event).then((decision) => host.answer(event.id, decision))
          }
        },
      })
      const endOnStop = (end: () => void) => {
        if (options.stop?.aborted) end()
        else options.stop?.addEventListener('abort', end, { once: true })
      }
      endOnStop(() => host.end({ reason: 'you ended the demo', code: 'interrupted' }))
      narrate('4. the end user is waiting; the technician runs: rescue connect --pin ' + pin)
      const technician = await startTechnician({
        server: gateway.url,
        entry: { pin },
        token,
        onEvent: onEvent('technician'),
      })
      endOnStop(() => technician.session.end({ reason: 'you ended the demo', code: 'interrupted' }))
      await technician.ssh
      await waitUntil(
        () => paired.host !== undefined && paired.technician !== undefined,
        host,
        technician.session,
      )
      narrate(`5. paired end to end: both sides show "${paired.host}"; the gateway relayed only ciphertext`)
      await technician.words
      narrate('   the end user confirmed the words: only now can anything be asked of them')

      narrate(`6. the technician runs a command, which waits for the end user's consent: ${DEMO_COMMAND}`)
      const output = new PassThrough()
      const chunks: Buffer[] = []
      output.on('data', (chunk: Buffer) => chunks.push(chunk))
      const commandExit = await technician
        .exec(DEMO_COMMAND, {
          stdout: output,
          stderr: output,
        })
        .catch((error: Error) => {
          narrate(`   the command was not run: ${error.message}`)
          return {} as RemoteExit
        })
      const commandOutput = Buffer.concat(chunks).toString('utf8')
      for (const line of commandOutput.trimEnd().split('\n')) if (line) narrate(`   | ${line}`)

      narrate("7. the technician asks for a shell, again behind the end user's consent")
      const shell = await options.shell(technician).catch((error: Error) => {
        narrate(`   no shell: ${error.message}`)
        return {} as RemoteExit
      })
      technician.session.end()
      const ended = { host: await host.done, technician: await technician.session.done }
      narrate(`8. the technician ended the session; the end user was told: "${ended.host.reason}"`)
      const { entries } = readAuditLog(auditFile)
      narrate(`9. the end user's audit log, as rescue log shows it (${entries.length} entries):`)
      for (const entry of entries) narrate(`   ${formatAuditLine(entry)}`)
      return {
        sas: { host: paired.host!, technician: paired.technician! },
        command: {
          line: DEMO_COMMAND,
          output: commandOutput,
          ...(commandExit.exitCode !== undefined ? { exitCode: commandExit.exitCode } : {}),
        },
        shell,
        auditEntries: entries.length,
        ended,
      }
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

/** A shell without a terminal, fed a short script: what the demo does when nobody is at the keyboard. */
export async function scriptedShell(
  technician: TechnicianSession,
  script: string,
  onLine: (line: string) => void,
): Promise<RemoteExit> {
  const { channel, closed } = await technician.shell()
  let pending = ''
  const onData = (chunk: Buffer) => {
    const lines = (pending + chunk.toString('utf8')).split('\n')
    pending = lines.pop() ?? ''
    lines.forEach(onLine)
  }
  channel.on('data', onData)
  channel.stderr.on('data', onData)
  channel.end(script)
  const exit = await closed
  if (pending) onLine(pending)
  return exit
}
