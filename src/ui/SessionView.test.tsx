import { render } from 'ink-testing-library'
import { describe, expect, it } from 'vitest'
import { initialSessionView, reduceSessionView } from '../core/session/view-state.js'
import { SessionView } from './SessionView.js'

const technician = { name: 'Alice Smith', email: 'alice@acme.example', organisation: 'Acme IT' }

describe('SessionView', () => {
  it('shows the technician a countdown to the PIN expiry while waiting', () => {
    const state = reduceSessionView(initialSessionView('technician'), {
      event: 'waiting',
      role: 'technician',
      sessionId: 's',
      expiresAt: new Date(Date.now() + 125_000).toISOString(),
    })
    const { lastFrame, unmount } = render(<SessionView state={state} />)
    expect(lastFrame()).toMatch(/waiting for the end user · PIN expires in 2:0[45]/)
    unmount()
  })

  it('shows the technician the end user’s chat lines under the words, before the way out', () => {
    const state = reduceSessionView(initialSessionView('technician'), {
      event: 'paired',
      role: 'technician',
      sessionId: 's',
      sas: 'west lucky violin',
    })
    const notes = ['chat from the end user: hello? (answer with rescue chat)']
    const { lastFrame, unmount } = render(<SessionView state={state} notes={notes} />)
    const frame = lastFrame() ?? ''
    expect(frame).toContain('chat from the end user: hello? (answer with rescue chat)')
    expect(frame.indexOf('west lucky violin')).toBeLessThan(frame.indexOf('hello?'))
    expect(frame.indexOf('hello?')).toBeLessThan(frame.indexOf('Ctrl-C ends the session'))
    unmount()
  })

  it('shows the end user who is connecting, and the security words to compare', () => {
    let state = initialSessionView('host')
    state = reduceSessionView(state, {
      event: 'waiting',
      role: 'host',
      sessionId: 's',
      expiresAt: new Date().toISOString(),
    })
    state = reduceSessionView(state, {
      event: 'paired',
      role: 'host',
      sessionId: 's',
      sas: 'west lucky violin',
      technician,
    })
    const { lastFrame, unmount } = render(<SessionView state={state} />)
    const frame = lastFrame() ?? ''
    expect(frame).toContain('connected')
    expect(frame).toContain('Alice Smith <alice@acme.example> of Acme IT')
    expect(frame).toContain('security words: west lucky violin')
    expect(frame).not.toContain('waiting')
    unmount()
  })

  it('says who ended the session, and keeps the words on screen', () => {
    let state = reduceSessionView(initialSessionView('technician'), {
      event: 'paired',
      role: 'technician',
      sessionId: 's',
      sas: 'west lucky violin',
    })
    state = reduceSessionView(state, { event: 'ended', by: 'host', reason: 'the end user ended the session' })
    const { lastFrame, unmount } = render(<SessionView state={state} />)
    expect(lastFrame()).toContain('session ended: the end user ended the session')
    expect(lastFrame()).not.toContain('Ctrl-C ends the session')
    unmount()
  })
})
