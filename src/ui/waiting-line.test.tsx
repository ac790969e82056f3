/**
 * The end user's waiting line, in both views that draw it: a PIN's countdown only for a PIN, and
 * for a shared queue, which queue and how long it keeps them (issue 15: channel sessions said
 * "PIN expires in 59:58").
 */
import { render } from 'ink-testing-library'
import { describe, expect, it, vi } from 'vitest'
import { initialHostView, reduceHostView, type HostViewAction } from '../core/host/view-state.js'
import { initialSessionView, reduceSessionView } from '../core/session/view-state.js'
import { HostView } from './HostView.js'
import { SessionView } from './SessionView.js'

const inChannel: HostViewAction = {
  event: 'waiting',
  role: 'host',
  sessionId: 's',
  expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  via: 'channel',
  channel: 'helpdesk',
}

const noop = () => {}

describe('waiting in a shared queue', () => {
  it('HostView names the queue and its wait, and speaks of no PIN', () => {
    const state = reduceHostView(initialHostView(), inChannel, new Date())
    const { lastFrame, unmount } = render(
      <HostView
        state={state}
        onDecision={vi.fn()}
        onRevoke={noop}
        onEndSession={noop}
        onConfirmEnd={noop}
        onCancelEnd={noop}
      />,
    )
    expect(lastFrame()).toMatch(
      /waiting in the shared queue of helpdesk for a technician · for up to (60:00|59:59) more/,
    )
    expect(lastFrame()).not.toMatch(/PIN/)
    unmount()
  })

  it('SessionView does the same for the end user, and the technician sees the session id once connected', () => {
    const host = reduceSessionView(
      initialSessionView('host'),
      inChannel as Parameters<typeof reduceSessionView>[1],
    )
    const waiting = render(<SessionView state={host} />)
    expect(waiting.lastFrame()).toMatch(/waiting in the shared queue of helpdesk/)
    expect(waiting.lastFrame()).not.toMatch(/PIN/)
    waiting.unmount()

    const technician = reduceSessionView(initialSessionView('technician'), {
      event: 'paired',
      role: 'technician',
      sessionId: 'k5nvmh3wq2x7tb4c9d0e1f2g3h',
      sas: 'west lucky violin',
    })
    const connected = render(<SessionView state={technician} />)
    expect(connected.lastFrame()).toContain('session k5nvmh3wq2x7tb4c9d0e1f2g3h')
    connected.unmount()
  })
})
