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
import { UserError } from '../core/errors.js'

export interface HostRunOptions {
  server: string
  entry: { pin: string } | { channelSecret: string }
  autoApprove: Permission[]
  trust: TrustAnchor[]
  trustGateway: boolean
  consentTimeoutMs: number
  resumeGraceMs: number
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
  const display: Display<HostEvent> = interactive
    ? await liveHostView({
        onDecision: (id, decision) => host?.answer(id, decision),
        onRevoke: () => host?.revoke(),
        onEndSession: () => host?.end(),
        onInterrupt: () => host?.end(signalEnding('SIGINT')),
        onChat: (text) => host?.chat(text) ?? false,
        onWords: (match) => host?.confirmWords(match),
        onRemove: (email) => host?.remove(email),
      })
    : lineDisplay(options.json, describeHostEvent)
  await holdSession(display, async (onEvent) => {
    // The one place the words' gate is decided: whoever sits at the terminal confirms the words.
    // Without a terminal nobody can, and nothing is granted but what --auto-approve names.
    const { share: _share, ...rest } = options
    host = await startHost({ ...rest, interactive, confirmWords: interactive, onEvent })
    return host
  })
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
  await holdSession(screen.display, async (onEvent) => {
    const { share: _share, ...rest } = options
    const host = await startHost({
      ...rest,
      interactive,
      confirmWords: true,
      share: screen.share,
      onEvent,
    })
    screen.attach(host)
    return host
  })
}

// Ink and React load only when there is a terminal to draw on.
async function liveHostView(actions: {
  onDecision(id: string, decision: 'once' | 'session' | 'deny'): void
  onRevoke(): void
  onEndSession(): void
  onInterrupt(): void
  onChat(text: string): boolean
  onWords(match: boolean): void
  onRemove(email: string): void
}): Promise<Display<HostEvent>> {
  const [{ HostView }, { createElement, mountView }, { initialHostView, reduceHostView }] = await Promise.all(
    [import('../ui/HostView.js'), import('../ui/render.js'), import('../core/host/view-state.js')],
  )
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
  const dispatch = (action: Parameters<typeof reduceHostView>[1]) => {
    state = reduceHostView(state, action)
    if (scheduled || closed) return
    scheduled = true
    setImmediate(() => {
      if (!scheduled || closed) return
      scheduled = false
      view.update(render())
    })
  }
  const view = mountView(render())
  return {
    show: dispatch,
    close() {
      // The last events (the session's end) are drawn before the view lets go of the terminal,
      // and nothing is drawn after: a render after unmounting would take the terminal back.
      if (scheduled) view.update(render())
      closed = true
      return view.close()
    },
  }
}
