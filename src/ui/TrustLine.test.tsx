import { render } from 'ink-testing-library'
import { describe, expect, it } from 'vitest'
import { initialHostView, reduceHostView } from '../core/host/view-state.js'
import { HostView } from './HostView.js'

const technician = { name: 'Alice Smith', email: 'alice@acme.example', organisation: 'Acme IT' }
const verified = {
  email: 'alice@acme.example',
  organisation: 'Acme IT',
  caFingerprint: 'SHA256:q2Fz0bVwYkq6m1HkQy3Zr5q1n8pJk3Yd0uQxj1a2b3c',
  deviceFingerprint: 'SHA256:def',
  validUntil: '2027-01-01T00:00:00.000Z',
}
const noop = () => {}

function screen(actions: Parameters<typeof reduceHostView>[1][]): string {
  const state = actions.reduce((next, action) => reduceHostView(next, action), initialHostView())
  const view = render(
    <HostView
      state={state}
      onDecision={noop}
      onRevoke={noop}
      onEndSession={noop}
      onConfirmEnd={noop}
      onCancelEnd={noop}
    />,
  )
  const frame = view.lastFrame() ?? ''
  view.unmount()
  return frame
}

const paired = {
  event: 'paired',
  role: 'host',
  sessionId: 's',
  sas: 'maid ribbon elephant',
  technician,
} as const

describe("the host's view of who the technician is", () => {
  it('with --trust: the identity checked by signature, with the organisation key that checked it', () => {
    expect(screen([{ ...paired, verified }])).toContain(
      "✓ alice@acme.example — verified by your organisation's key SHA256:q2Fz0bVwYkq6…",
    )
  })

  it('without it: only as vouched for by the gateway, never "verified"', () => {
    const frame = screen([paired])
    expect(frame).toContain('alice@acme.example as vouched for by the gateway')
    expect(frame).not.toContain('verified')
  })

  it('with --trust-gateway: a warning that what is pre-approved rests on the gateway alone', () => {
    const frame = screen([{ event: 'trust-gateway', permissions: ['exec'] }, paired])
    expect(frame).toContain('--trust-gateway pre-approves what they ask')
    expect(frame).toContain('warning: --trust-gateway: exec will be allowed without asking')
  })
})
