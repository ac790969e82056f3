/**
 * `rescue host`: the end user's side. On a terminal, the live Ink view asks for consent and takes
 * the `r` (revoke) and `q` (end) keys; without one, events go out as lines or JSON lines and every
 * request that `--auto-approve` does not cover is denied, since nobody can answer it.
 */
import type { Permission } from '../core/consent/index.js'
import { checkUnattendedTrust, startHost, type HostEvent, type HostSession } from '../core/host/index.js'
import { trustGatewayWarning, type TrustAnchor } from '../core/trust/index.js'
import { holdSession, lineDisplay, type Display } from './run-session.js'
import { describeHostEvent } from './session-lines.js'
import { signalEnding } from './signals.js'
import { ExitCode, UserError } from '../core/errors.js'
import { useTicket, type ResumeTicket } from '../core/reboot/ticket.js'
import { describeVerified, VOUCHED_BY_GATEWAY } from '../core/trust/index.js'
import { readKey } from './read-key.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'
import type { PresentStageOnTerminal } from './present-screen.js'
import type { DirectMode } from '../core/session/index.js'

/** How long the end user has to say whether to rejoin after a restart. */
const REJOIN_ANSWER_MS = 5 * 60_000

/**
 * `rescue host --resume`: opens (and so uses up) the resume ticket kept before the restart, shows
 * whom it rejoins, and goes on only once the end user at this terminal says yes.
 */
export async function runResumedHost(
  options: Omit<HostRunOptions, 'server' | 'entry' | 'resume'> & { ticketFile?: string },
): Promise<void> {
  const interactive = !options.json && process.stdin.isTTY === true && process.stdout.isTTY === true
  if (!interactive) {
    throw new UserError(
      'usage',
      'rescue host --resume needs you at a terminal: you confirm whom you rejoin',
      'run it in a terminal, without --json',
    )
  }
  const ticket = useTicket(options.ticketFile)
  const safe = (text: string) => sanitizeForTerminal(text, 200)
  const { name, email, organisation } = ticket.technician
  process.stdout.write(
    [
      'after the restart, rejoin this session?',
      `  technician ${safe(name)} <${safe(email)}> of ${safe(organisation)}`,
      `  ${ticket.verified ? safe(describeVerified(ticket.verified)) : `${safe(email)} ${VOUCHED_BY_GATEWAY}`}`,
      `  security words of the session: ${safe(ticket.sas)}`,
      `  gateway ${safe(ticket.server)}, session ${ticket.sessionId}`,
      '  nothing you allowed before the restart carries over: you will be asked again',
      '[y] rejoin   [n] do not',
      '',
    ].join('\n'),
  )
  const key = await readKey(['y', 'n'], REJOIN_ANSWER_MS)
  if (key !== 'y') {
    throw new UserError(
      'denied',
      'you did not rejoin the session; the resume ticket is used up',
      'ask your technician for a new PIN to start again',
    )
  }
  const { ticketFile: _file, ...rest } = options
  await runHost({ ...rest, server: ticket.server, entry: { resume: ticket.sessionId }, resume: ticket })
}

export interface HostRunOptions {
  server: string
  entry: { pin: string } | { channelSecret: string } | { resume: string }
  /** `--resume`: the opened resume ticket of the session to rejoin after a restart. */
  resume?: ResumeTicket
  autoApprove: Permission[]
  trust: TrustAnchor[]
  trustGateway: boolean
  consentTimeoutMs: number
  resumeGraceMs: number
  direct?: DirectMode
  json: boolean
  hostName?: string
  /** `--share`: the end user's own shell, which the technician may watch and, if let, type in. */
  share?: boolean
}

export async function runHost(options: HostRunOptions): Promise<void> {
  checkUnattendedTrust(options)
  const interactive = !options.json && process.stdin.isTTY === true && process.stdout.isTTY === true
  if (options.trustGateway && options.autoApprove.length > 0 && options.trust.length === 0) {
    // Before any view: the operator reads it where they typed the command (and the audit log keeps it).
    process.stderr.write(`Warning: ${trustGatewayWarning(options.autoApprove)}\n`)
  }
  if (options.share) return runSharedHost(options, interactive)
  let host: HostSession | undefined
  // On a terminal, the technician may show theirs there (rescue present), once allowed.
  let stage: PresentStageOnTerminal | undefined
  const display: Display<HostEvent> = interactive
    ? await liveHostView({
        onDecision: (id, decision) => host?.answer(id, decision),
        onRevoke: () => host?.revoke(),
        onEndSession: () => host?.end(),
        onInterrupt: () => host?.end(signalEnding('SIGINT')),
        onChat: (text) => host?.chat(text) ?? false,
        onWords: (match, technician) => host?.confirmWords(match, technician),
        onStage: (made) => (stage = made),
        onRemove: (email) => host?.remove(email),
      })
    : lineDisplay(options.json, describeHostEvent)
  await holdSession(display, async (onEvent) => {
    // The one place the words' gate is decided: whoever sits at the terminal confirms the words.
    // Without a terminal nobody can, and nothing is granted but what --auto-approve names.
    const { share: _share, ...rest } = options
    host = await startHost({
      ...rest,
      interactive,
      confirmWords: interactive,
      ...(stage ? { stage } : {}),
      onEvent,
    })
    return host
  })
  await afterRestart(host)
}

/** When the end user allowed a restart: the restart command's outcome, once the session is left. */
async function afterRestart(host: HostSession | undefined): Promise<void> {
  const restarting = host?.restart()
  if (!restarting) return
  try {
    await restarting
    process.stderr.write('restarting; after the restart run rescue host --resume\n')
  } catch (error) {
    process.stderr.write(
      `the restart command failed: ${(error as Error).message}; restart by hand, then run rescue host --resume (the session is held for a while)\n`,
    )
    process.exitCode = ExitCode.failure
  }
}

async function runSharedHost(options: HostRunOptions, interactive: boolean): Promise<void> {
  if (!interactive) {
    throw new UserError(
      'usage',
      '--share shares the terminal you run it in: it needs one (and no --json)',
      'run rescue host --share in the terminal you want to show',
    )
  }
  const { startShareScreen } = await import('./share-host.js')
  const screen = await startShareScreen()
  let host: HostSession | undefined
  await holdSession(screen.display, async (onEvent) => {
    const { share: _share, ...rest } = options
    host = await startHost({
      ...rest,
      interactive,
      confirmWords: true,
      share: screen.share,
      onEvent,
    })
    screen.attach(host)
    return host
  })
  await afterRestart(host)
}

// Ink and React load only when there is a terminal to draw on.
async function liveHostView(actions: {
  onDecision(id: string, decision: 'once' | 'session' | 'deny'): void
  onRevoke(): void
  onEndSession(): void
  onInterrupt(): void
  onChat(text: string): boolean
  onWords(match: boolean, technician?: string): void
  onStage(stage: PresentStageOnTerminal): void
  onRemove(email: string): void
}): Promise<Display<HostEvent>> {
  const [{ HostView }, { createElement, mountView }, { initialHostView, reduceHostView }, { presentStage }] =
    await Promise.all([
      import('../ui/HostView.js'),
      import('../ui/render.js'),
      import('../core/host/view-state.js'),
      import('./present-screen.js'),
    ])
  let state = initialHostView()
  const render = () =>
    createElement(HostView, {
      state,
      ...actions,
      onChat: (text: string) => {
        if (!actions.onChat(text)) dispatch({ event: 'chat-unsent' })
      },
      onConfirmEnd: () => dispatch({ event: 'confirm-end' }),
      onCancelEnd: () => dispatch({ event: 'cancel-end' }),
    })
  // Events that arrive together render once: a request decided at once (pre-approved, granted for
  // the session) must not flash a prompt for one frame.
  let scheduled = false
  let closed = false
  // While the technician presents, the view is unmounted: it keeps its state and draws nothing.
  let suspended = false
  const dispatch = (action: Parameters<typeof reduceHostView>[1]) => {
    state = reduceHostView(state, action)
    if (scheduled || closed || suspended) return
    scheduled = true
    setImmediate(() => {
      if (!scheduled || closed || suspended) return
      scheduled = false
      view.update(render())
    })
  }
  let view = mountView(render())
  const stage = presentStage({
    suspend() {
      suspended = true
      scheduled = false
      return view.suspend()
    },
    resume() {
      suspended = false
      if (!closed) view = mountView(render())
    },
    interrupt: actions.onInterrupt,
  })
  actions.onStage(stage)
  return {
    show(event) {
      stage.notice(event)
      dispatch(event)
    },
    close() {
      // The last events (the session's end) are drawn before the view lets go of the terminal,
      // and nothing is drawn after: a render after unmounting would take the terminal back.
      if (scheduled) view.update(render())
      closed = true
      return view.close()
    },
  }
}
