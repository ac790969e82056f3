import { BaseCommand } from '../cli/base-command.js'
import { onSignal, signalCode } from '../cli/signals.js'
import { BugError, ExitCode } from '../core/errors.js'
import { readKey } from '../cli/read-key.js'
import { runShell } from '../cli/remote-shell.js'
import { describeEvent, describeHostEvent } from '../cli/session-lines.js'
import type { ConsentRequest, Decision } from '../core/consent/index.js'
import { describeHostActivity } from '../core/host/describe.js'
import { runDemo, scriptedShell, type DemoResult } from '../core/demo/index.js'
import { roleName, type Role } from '../core/protocol/control-messages.js'
import type { HostEvent } from '../core/host/index.js'
import type { TechnicianEvent } from '../core/technician/index.js'

const DECISION_KEYS: Record<string, Decision> = { a: 'once', s: 'session', d: 'deny' }
const SCRIPT = 'echo "in the shell: $(pwd)"; echo "shell: $0"; exit 0\n'

export default class Demo extends BaseCommand {
  static override summary =
    'See the whole flow on this machine: gateway, PIN, end user, consent and a remote shell'
  static override description = `Starts a gateway on a free loopback port with a throwaway database, creates an admin, makes a PIN, and pairs an end user with the technician end to end. The technician then runs a command and asks for a shell, each behind the end user's consent: on a terminal you first confirm the security words (the end user's "do they match?"), then answer the prompts and use the shell yourself (type exit, or ~. after Enter, to leave); without one the demo compares both sides' words itself, answers "allow once" and runs a short script. It says what happens at each step and leaves nothing behind.`

  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --json']

  async run(): Promise<DemoResult | { stopped: NodeJS.Signals }> {
    await this.parse(Demo)
    const atKeyboard = process.stdin.isTTY === true && process.stdout.isTTY === true && !this.jsonEnabled()
    // Ctrl-C (or SIGTERM) ends the demo's sessions; it then unwinds, removes what it made, and exits 130 (143).
    const stop = new AbortController()
    let stoppedBy: NodeJS.Signals | undefined
    const stopListening = onSignal((signal) => {
      stoppedBy ??= signal
      stop.abort()
    })
    const running = runDemo({
      stop: stop.signal,
      narrate: (line) => this.log(line),
      onEvent: (role, event) => {
        const asksAtKeyboard = event.event === 'consent-request' || event.event === 'words-asked'
        if (event.event === 'waiting' || (asksAtKeyboard && atKeyboard)) return
        for (const line of this.describe(role, event)) this.log(`   [${roleName[role]}] ${line}`)
      },
      confirmWords: atKeyboard
        ? (sas, deadline) => this.confirmAtKeyboard(sas, deadline)
        : async (sas) => {
            // Both screens are in this process: the demo compares them for real, and says so.
            const match = sas.host === sas.technician
            this.log(
              `   [end user] (no terminal here: the demo compares both screens' words itself: ${match ? 'they match, so it answers yes' : 'they differ, so it answers no'})`,
            )
            return match
          },
      answer: atKeyboard ? (request) => this.askAtKeyboard(request) : (request) => this.answerForYou(request),
      shell: atKeyboard
        ? (technician) => {
            this.log('   [technician] the shell is yours: type exit, or ~. after Enter, to leave')
            return runShell(technician)
          }
        : (technician) => scriptedShell(technician, SCRIPT, (line) => this.log(`   | ${line}`)),
    })
    let result: DemoResult | undefined
    try {
      result = await running
    } catch (error) {
      // Stopped on purpose: whatever was under way when it stopped is no error of its own.
      if (!stoppedBy) throw error
    } finally {
      stopListening()
    }
    if (stoppedBy) {
      this.log(
        `the demo was stopped (${stoppedBy === 'SIGINT' ? 'Ctrl-C' : stoppedBy}) and removed what it made`,
      )
      process.exitCode = ExitCode[signalCode(stoppedBy)]
      return { stopped: stoppedBy }
    }
    if (!result) throw new BugError('the demo ended without a result')
    if (!atKeyboard && (result.command.exitCode !== 0 || result.shell.exitCode !== 0)) {
      this.error('the demo did not run its command and shell as expected', { exit: 1 })
    }
    return result
  }

  private describe(role: Role, event: HostEvent | TechnicianEvent): string[] {
    // The demo answers for the end user here, so the host's "nobody can answer" note does not apply.
    if (event.event === 'consent-request') return [describeHostActivity(event)]
    return role === 'host' ? describeHostEvent(event as HostEvent) : describeEvent(event as TechnicianEvent)
  }

  private async confirmAtKeyboard(sas: Record<Role, string>, deadline: string): Promise<boolean> {
    const seconds = Math.round((Date.parse(deadline) - Date.now()) / 1000)
    this.log(`\n   [technician] reads the end user the words on their screen: ${sas.technician}`)
    this.log(`   [end user] your screen shows: ${sas.host}`)
    this.log(`              Do they match? [y] yes  [n] no          (ends the session in ${seconds} s)`)
    // No answer (or Ctrl-C) is a no: nothing is asked of an end user who did not confirm the words.
    return (await readKey(['y', 'n'], Date.parse(deadline) - Date.now())) === 'y'
  }

  private async askAtKeyboard(request: ConsentRequest): Promise<Decision> {
    this.log(`\n   [end user] ${request.technician} wants to ${request.summary}.`)
    if (request.detail) this.log(`              ${request.detail}`)
    this.log('              [a] allow once   [s] allow for this session   [d] deny          (denies in 60 s)')
    const key = await readKey(Object.keys(DECISION_KEYS), Date.parse(request.deadline) - Date.now())
    return (key ? DECISION_KEYS[key] : undefined) ?? 'deny'
  }

  private async answerForYou(request: ConsentRequest): Promise<Decision> {
    this.log(`   [end user] (no terminal here: the demo answers "allow once" to: ${request.summary})`)
    return 'once'
  }
}
