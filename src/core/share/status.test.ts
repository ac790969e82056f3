import { describe, expect, it } from 'vitest'
import type { ConsentRequest } from '../consent/types.js'
import { initialShareStatus, promptFits, reduceShareStatus, statusLine } from './status.js'

const request = (detail?: string): ConsentRequest => ({
  id: 'r1',
  permission: 'exec',
  summary: 'run a command as bob on this computer',
  ...(detail ? { detail } : {}),
  technician: 'dana@acme.example',
  deadline: new Date().toISOString(),
})

const connected = reduceShareStatus(initialShareStatus(), {
  event: 'paired',
  role: 'host',
  sessionId: 's',
  sas: 'a b c',
  technician: { name: 'Dana Kim', email: 'dana@acme.example', organisation: 'Acme IT' },
})

describe('the shared terminal status line', () => {
  it('says who watches, who may type and who typed last', () => {
    let state = reduceShareStatus(connected, { event: 'channel-open', channel: 1, kind: 'view' })
    state = reduceShareStatus(state, { event: 'channel-open', channel: 2, kind: 'control' })
    expect(statusLine(state, 'technician', 200)).toBe(
      'rescue: Dana Kim <dana@acme.example> · watching · may type · last typed: technician · Ctrl-] takes control back',
    )
    state = reduceShareStatus(state, { event: 'control-taken-back', closedChannels: 1 })
    expect(statusLine(state, 'technician', 200)).toContain('cannot type')
    expect(statusLine(state, 'technician', 200)).toContain('you took control back')
  })

  it('offers only a denial for a request that does not show whole', () => {
    const long = reduceShareStatus(connected, { event: 'consent-request', ...request('x'.repeat(300)) })
    expect(promptFits(long, 120)).toBe(false)
    expect(statusLine(long, undefined, 120)).toMatch(
      /^rescue: too long for this line.*Ctrl-\] then d to deny/,
    )
    expect([...statusLine(long, undefined, 120)]).toHaveLength(120)
    const short = reduceShareStatus(connected, { event: 'consent-request', ...request('uname -a') })
    expect(promptFits(short, 120)).toBe(true)
    expect(statusLine(short, undefined, 120)).toBe(
      'rescue: Ctrl-] then a, s or d · dana@acme.example wants to run a command as bob on this computer: uname -a',
    )
    const decided = reduceShareStatus(short, {
      event: 'consent-decision',
      id: 'r1',
      permission: 'exec',
      decision: 'deny',
      by: 'end-user',
    })
    expect(decided.prompts).toEqual([])
  })

  it("asks invited technicians' words one at a time, lists who is here and numbers them for removal", () => {
    const bob = { name: 'Bob Jones', email: 'bob@acme.example', organisation: 'Acme IT' }
    const eve = { name: 'Eve Ng', email: 'eve@acme.example', organisation: 'Acme IT' }
    const deadline = new Date().toISOString()
    let state = reduceShareStatus(connected, { event: 'words-confirmed', by: 'end-user' })
    for (const [who, sas] of [
      [bob, 'one two three'],
      [eve, 'four five six'],
    ] as const) {
      state = reduceShareStatus(state, { event: 'technician-joined', technician: who, sas })
      state = reduceShareStatus(state, { event: 'words-asked', sas, deadline, technician: who.email })
    }
    expect(statusLine(state, undefined, 200)).toBe(
      'rescue: invited: Bob Jones <bob@acme.example> · security words: one two three · do they match what they read you? Ctrl-] then y (let them in) or n',
    )
    state = reduceShareStatus(state, { event: 'words-confirmed', by: 'end-user', technician: bob.email })
    expect(statusLine(state, undefined, 200)).toContain(
      'invited: Eve Ng <eve@acme.example> · security words: four five six',
    )
    state = reduceShareStatus(state, { event: 'words-rejected', by: 'end-user', technician: eve.email })
    state = reduceShareStatus(state, {
      event: 'technician-left',
      technician: eve,
      removed: false,
      reason: 'no',
    })
    expect(state.words).toBeUndefined()
    expect(statusLine(state, undefined, 200)).toMatch(
      /^rescue: Dana Kim <dana@acme\.example> \+ 1 Bob Jones · not watching/,
    )
    state = reduceShareStatus(state, { event: 'menu', open: true })
    expect(statusLine(state, undefined, 200)).toContain(
      'r revoke everything · 1 remove Bob Jones · q end the session',
    )
  })

  it('lists only who is still here once the session’s own technician left', () => {
    const dana = { name: 'Dana Kim', email: 'dana@acme.example', organisation: 'Acme IT' }
    const bob = { name: 'Bob Jones', email: 'bob@acme.example', organisation: 'Acme IT' }
    let state = reduceShareStatus(connected, { event: 'words-confirmed', by: 'end-user' })
    state = reduceShareStatus(state, { event: 'technician-joined', technician: bob, sas: 'one two three' })
    state = reduceShareStatus(state, {
      event: 'technician-left',
      technician: dana,
      removed: false,
      reason: 'they left the session',
      first: true,
    })
    const line = statusLine(state, undefined, 200)
    expect(line).toMatch(/^rescue: here: 1 Bob Jones · not watching/)
    expect(line).toContain('Dana Kim <dana@acme.example> left: they left the session')
    expect(line.replace(/ · Dana Kim.*left.*$/, '')).not.toContain('dana@')
  })
})
