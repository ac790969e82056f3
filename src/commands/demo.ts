import { BaseCommand } from '../cli/base-command.js'
import { onSignal, signalCode } from '../cli/signals.js'
import { BugError, ExitCode } from '../core/errors.js'
import { readKey } from '../cli/read-key.js'
import { runShell } from '../cli/remote-shell.js'
import { describeHostEvent } from '../cli/session-lines.js'
import type { ConsentRequest, Decision } from '../core/consent/index.js'
import { describeHostActivity } from '../core/host/describe.js'
import { runDemo, scriptedShell, type DemoResult } from '../core/demo/index.js'
import { roleName } from '../core/gateway/control-messages.js'

const DECISION_KEYS: Record<string, Decision> = { a: 'once', s: 'session', d: 'deny' }
const SCRIPT = 'echo "in the shell: $(pwd)"; echo "shell: $0"; exit 0\n'

export default class Demo extends BaseCommand {
  static override summary =
    'See the whole flow on this machine: gateway, PIN, end user, consent and a remote shell'
  static override description = `Starts a gateway on a free loopback port with a throwaway database, creates an admin, makes a PIN, and pairs an end user with the technician end to end. The technician then runs a command and asks for a shell, each behind the end user's consent: on a terminal you answer the prompts and use the shell yourself (type exit, or ~. after Enter, to leave); without one the demo answers "allow once" and runs a short script. It says what happens at each step and leaves nothing behind.`

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
        if (event.event === 'waiting' || (event.event === 'consent-request' && atKeyboard)) return
        // The demo answers for the end user here, so the host's "nobody can answer" note does not apply.
        const lines =
          event.event === 'consent-request' ? [describeHostActivity(event)] : describeHostEvent(event)
        for (const line of lines) this.log(`   [${roleName[role]}] ${line}`)
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
