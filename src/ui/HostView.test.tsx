import { EventEmitter } from 'node:events'
import { render as inkRender } from 'ink'
import { render } from 'ink-testing-library'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ConsentRequest } from '../core/consent/types.js'
import {
  initialHostView,
  reduceHostView,
  type HostViewAction,
  type HostViewState,
} from '../core/host/view-state.js'
import { HostView, PROMPT_GUARD_MS, clockTime, type HostViewProps } from './HostView.js'

// How the keys get in: ink-testing-library's fake stdin has `isTTY = true`, and Ink derives
// `isRawModeSupported` from `stdin.isTTY`, so HostView's `useInput` is active and `stdin.write(key)`
// reaches it (Ink reads it on 'readable'). The opposite case, a stdin with no raw mode, cannot be
// made through ink-testing-library, so the last test mounts Ink itself with a non-TTY stdin.
//
// Time: only Date and setInterval are faked. Date drives the 400 ms type-ahead guard and the
// countdowns; setInterval is useNow's tick. setImmediate/setTimeout stay real, because React's
// scheduler runs effects (including the one that subscribes useInput) on them, and Ink flushes a
// lone Escape on setImmediate.
const t0 = new Date('2025-01-01T12:00:00.000Z')
const technician = { name: 'Alice Smith', email: 'alice@acme.example', organisation: 'Acme IT' }

/** Lets React run its effects and Ink deliver input: a few real macrotasks. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20))

function request(id: string, overrides: Partial<ConsentRequest> = {}): HostViewAction {
  return {
    event: 'consent-request',
    id,
    permission: 'shell',
    summary: 'open a shell as bob on this computer',
    technician: 'alice@acme.example',
    deadline: new Date(Date.now() + 60_000).toISOString(),
    ...overrides,
  }
}

function stateAfter(actions: HostViewAction[]): HostViewState {
  return actions.reduce((state, action) => reduceHostView(state, action, new Date()), initialHostView())
}

const connected: HostViewAction[] = [
  {
    event: 'waiting',
    role: 'host',
    sessionId: 's',
    expiresAt: new Date(t0.getTime() + 300_000).toISOString(),
  },
  { event: 'paired', role: 'host', sessionId: 's', sas: 'west lucky violin', technician },
]

function callbacks() {
  return {
    onDecision: vi.fn<HostViewProps['onDecision']>(),
    onRevoke: vi.fn<HostViewProps['onRevoke']>(),
    onEndSession: vi.fn<HostViewProps['onEndSession']>(),
    onConfirmEnd: vi.fn<HostViewProps['onConfirmEnd']>(),
    onCancelEnd: vi.fn<HostViewProps['onCancelEnd']>(),
    onChat: vi.fn<NonNullable<HostViewProps['onChat']>>(),
    onWords: vi.fn<NonNullable<HostViewProps['onWords']>>(),
  }
}

function mount(state: HostViewState) {
  const props = callbacks()
  const view = render(<HostView state={state} {...props} />)
  const calls = () =>
    Object.fromEntries(
      Object.entries(props).flatMap(([name, fn]) => (fn.mock.calls.length ? [[name, fn.mock.calls]] : [])),
    )
  return {
    ...view,
    props,
    calls,
    rerenderWith: (next: HostViewState) => view.rerender(<HostView state={next} {...props} />),
    press: async (key: string) => {
      view.stdin.write(key)
      await settle()
    },
  }
}

/** Moves the clock on (firing useNow's interval if a second passes) and lets React re-render. */
async function advance(ms: number) {
  vi.advanceTimersByTime(ms)
  await settle()
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
  vi.setSystemTime(t0)
})

afterEach(() => {
  vi.useRealTimers()
})

describe('HostView screens', () => {
  it('while waiting, counts down to the PIN expiry and offers only to end', async () => {
    const view = mount(stateAfter(connected.slice(0, 1)))
    await settle()
    expect(view.lastFrame()).toContain('rescue · you are sharing this computer')
    expect(view.lastFrame()).toContain('● waiting for your technician · PIN expires in 5:00')
    await advance(1000)
    expect(view.lastFrame()).toContain('PIN expires in 4:59')
    expect(view.lastFrame()).toContain('[q] end the session')
    expect(view.lastFrame()).not.toContain('[r]')
    view.unmount()
  })

  it('when connected, names the technician, shows the words to compare by phone, and what is granted', async () => {
    const view = mount(stateAfter(connected))
    const frame = view.lastFrame() ?? ''
    expect(frame).toContain('● connected')
    expect(frame).toContain('technician Alice Smith <alice@acme.example> of Acme IT')
    expect(frame).toContain('security words: west lucky violin')
    expect(frame).toMatch(/Compare them by phone/)
    expect(frame).toContain('granted for this session: nothing')
    expect(frame).not.toContain('pre-approved')
    expect(frame).not.toContain('waiting')
    expect(frame).toContain('[r] revoke every grant  [q] end the session')
    view.unmount()
  })

  it('warns about what --auto-approve pre-approved, and lists grants, open channels and the feed', () => {
    const state = stateAfter([
      ...connected,
      { event: 'auto-approve', permissions: ['shell', 'exec'] },
      { event: 'consent-decision', id: 'x', permission: 'sysinfo', decision: 'session', by: 'end-user' },
      { event: 'channel-open', channel: 1, kind: 'shell' },
      { event: 'channel-open', channel: 2, kind: 'exec', command: 'uname -a' },
    ])
    const view = mount(state)
    const frame = view.lastFrame() ?? ''
    expect(frame).toContain('pre-approved for this session: open a shell, run commands')
    expect(frame).toContain('granted for this session: see system information')
    expect(frame).toContain('open now: shell #1, command #2 (uname -a)')
    const time = clockTime(t0.toISOString())
    expect(time).toMatch(/^\d\d:\d\d:\d\d$/)
    expect(frame).toContain(`${time} pre-approved by --auto-approve: shell, exec`)
    expect(frame).toContain(`${time} ran: uname -a`)
    view.unmount()
  })

  it('shows only the last 8 feed lines', () => {
    const opens: HostViewAction[] = Array.from({ length: 12 }, (_, index) => ({
      event: 'channel-open',
      channel: index + 1,
      kind: 'exec',
      command: `echo line-${index + 1}.`,
    }))
    const view = mount(stateAfter([...connected, ...opens]))
    const frame = view.lastFrame() ?? ''
    expect(frame).not.toContain('ran: echo line-4.')
    expect(frame).toContain('ran: echo line-5.')
    expect(frame).toContain('ran: echo line-12.')
    view.unmount()
  })

  it('after the end, says why (without a key legend), and keeps the words', () => {
    const view = mount(
      stateAfter([
        ...connected,
        {
          event: 'ended',
          by: 'gateway',
          reason: 'the connection to the gateway was lost',
          code: 'connectionLost',
        },
      ]),
    )
    const frame = view.lastFrame() ?? ''
    expect(frame).toContain('● session ended: the connection to the gateway was lost')
    expect(frame).toContain('security words: west lucky violin')
    expect(frame).not.toContain('[q]')
    expect(frame).not.toContain('granted for this session')
    view.unmount()
  })
})

describe('HostView consent prompt', () => {
  it('takes the screen with the request and a countdown to the automatic denial', async () => {
    const view = mount(stateAfter([...connected, request('r1')]))
    await settle()
    const frame = view.lastFrame() ?? ''
    expect(frame).toContain('rescue · you are sharing this computer')
    expect(frame).toContain('alice@acme.example wants to open a shell as bob on this computer.')
    // The keys and the countdown share a line when there is room (100 columns here), never split.
    expect(frame).toMatch(
      /\[a\] allow once {3}\[s\] allow for this session {3}\[d\] deny +\(denies in 60 s\)/,
    )
    // Who asks and their words stay on screen above the prompt (issue 15.1: never a prompt first).
    expect(frame.indexOf('technician Alice Smith <alice@acme.example> of Acme IT')).toBeGreaterThan(-1)
    expect(frame.indexOf('security words: west lucky violin')).toBeGreaterThan(
      frame.indexOf('technician Alice Smith'),
    )
    expect(frame.indexOf('wants to open a shell')).toBeGreaterThan(frame.indexOf('security words:'))
    expect(frame).not.toContain('[q]')
    expect(frame).not.toContain('more waiting')
    await advance(1000)
    expect(view.lastFrame()).toContain('(denies in 59 s)')
    await advance(58_000)
    expect(view.lastFrame()).toContain('(denies in 1 s)')
    view.unmount()
  })

  it('puts the command line on its own line and says how many more wait', () => {
    const view = mount(
      stateAfter([
        ...connected,
        request('r1', { permission: 'exec', summary: 'run a command as bob', detail: 'uname -a' }),
        request('r2'),
        request('r3'),
      ]),
    )
    const lines = (view.lastFrame() ?? '').split('\n')
    const sentence = lines.findIndex((line) =>
      line.includes('alice@acme.example wants to run a command as bob.'),
    )
    expect(sentence).toBeGreaterThan(-1)
    expect(lines[sentence + 1]).toMatch(/^\W*uname -a\W*$/)
    expect(view.lastFrame()).toContain('(2 more waiting)')
    view.unmount()
  })

  it.each([
    ['a', 'once'],
    ['s', 'session'],
    ['d', 'deny'],
  ])('answers with %s once the prompt has been on screen for 400 ms', async (key, decision) => {
    const view = mount(stateAfter([...connected, request('r1')]))
    await settle()
    await advance(PROMPT_GUARD_MS)
    await view.press(key)
    expect(view.calls()).toEqual({ onDecision: [['r1', decision]] })
    view.unmount()
  })

  it('the single prompt offers only "for this session" and "deny", in words: a is no answer', async () => {
    const view = mount(
      stateAfter([
        ...connected,
        request('all', {
          permission: 'single-prompt',
          summary:
            'have, for the rest of this session, everything their group allows: open a shell and see system information',
          sessionOnly: true,
          covers: ['shell', 'sysinfo'],
        }),
      ]),
    )
    await settle()
    const frame = view.lastFrame() ?? ''
    expect(frame).toContain('[s] allow for this session')
    expect(frame).not.toContain('allow once')
    expect(frame).toContain('open a shell and see system information')
    await advance(PROMPT_GUARD_MS)
    await view.press('a')
    await view.press('f')
    expect(view.calls()).toEqual({})
    await view.press('s')
    expect(view.calls()).toEqual({ onDecision: [['all', 'session']] })
    view.unmount()
  })

  it('ignores a key pressed within 400 ms of a prompt appearing (type-ahead), for each new prompt', async () => {
    const view = mount(stateAfter([...connected, request('r1'), request('r2')]))
    await settle()
    await advance(PROMPT_GUARD_MS - 50)
    await view.press('a')
    expect(view.calls()).toEqual({})
    await advance(50)
    await view.press('a')
    expect(view.props.onDecision.mock.calls).toEqual([['r1', 'once']])

    // The next prompt replaces the first: a second `a` right away must not answer it too.
    view.rerenderWith(stateAfter([...connected, request('r2')]))
    await settle()
    await view.press('a')
    expect(view.props.onDecision.mock.calls).toEqual([['r1', 'once']])
    await advance(PROMPT_GUARD_MS)
    await view.press('d')
    expect(view.props.onDecision.mock.calls).toEqual([
      ['r1', 'once'],
      ['r2', 'deny'],
    ])
    view.unmount()
  })

  it('does nothing for other keys while a prompt is on screen, even r, q and y', async () => {
    const state = reduceHostView(stateAfter([...connected, request('r1')]), { event: 'confirm-end' })
    const view = mount(state)
    await settle()
    await advance(PROMPT_GUARD_MS)
    for (const key of ['r', 'q', 'y', 'n', 'x', '\r', ' ']) await view.press(key)
    expect(view.calls()).toEqual({})
    view.unmount()
  })

  it('ends the session on Ctrl-C, prompt or not', async () => {
    const view = mount(stateAfter([...connected, request('r1')]))
    await settle()
    await view.press('\x03')
    expect(view.calls()).toEqual({ onEndSession: [[]] })
    view.unmount()
  })
})

describe('HostView keys without a prompt', () => {
  it('r revokes every grant and q asks to confirm the end', async () => {
    const view = mount(stateAfter(connected))
    await settle()
    await view.press('r')
    await view.press('q')
    await view.press('y')
    await view.press('n')
    expect(view.calls()).toEqual({ onRevoke: [[]], onConfirmEnd: [[]] })
    view.unmount()
  })

  it('while confirming the end, y ends the session, n and Escape cancel, and r does nothing', async () => {
    const state = reduceHostView(stateAfter(connected), { event: 'confirm-end' })
    const view = mount(state)
    await settle()
    expect(view.lastFrame()).toContain('End the session now? [y] yes  [n] no')
    expect(view.lastFrame()).not.toContain('[r] revoke every grant')
    await view.press('r')
    await view.press('n')
    await view.press('\x1b')
    expect(view.calls()).toEqual({ onCancelEnd: [[], []] })
    await view.press('y')
    expect(view.props.onEndSession).toHaveBeenCalledTimes(1)
    view.unmount()
  })

  it('ends the session on Ctrl-C', async () => {
    const view = mount(stateAfter(connected))
    await settle()
    await view.press('\x03')
    expect(view.calls()).toEqual({ onEndSession: [[]] })
    view.unmount()
  })

  it('ignores r and q after the session ended', async () => {
    const view = mount(
      stateAfter([...connected, { event: 'ended', by: 'host', reason: 'you ended the session' }]),
    )
    await settle()
    await view.press('r')
    await view.press('q')
    expect(view.calls()).toEqual({})
    view.unmount()
  })
})

describe('HostView without raw mode', () => {
  it('renders without reading keys when stdin cannot be put in raw mode', async () => {
    // Ink throws "Raw mode is not supported" if useInput is active on such a stdin.
    const stdin = Object.assign(new EventEmitter(), {
      isTTY: false,
      setEncoding() {},
      setRawMode: vi.fn(),
      resume() {},
      pause() {},
      ref() {},
      unref() {},
      read: () => null,
    })
    let output = ''
    const stdout = Object.assign(new EventEmitter(), {
      columns: 100,
      write: (frame: string) => {
        output = frame
        return true
      },
    })
    const props = callbacks()
    const instance = inkRender(<HostView state={stateAfter(connected)} {...props} />, {
      stdin: stdin as unknown as NodeJS.ReadStream,
      stdout: stdout as unknown as NodeJS.WriteStream,
      debug: true,
      exitOnCtrlC: false,
      patchConsole: false,
    })
    await settle()
    stdin.emit('data', 'q')
    stdin.emit('readable')
    await settle()
    expect(output).toContain('security words: west lucky violin')
    expect(stdin.setRawMode).not.toHaveBeenCalled()
    expect(props.onConfirmEnd).not.toHaveBeenCalled()
    instance.unmount()
  })
})

describe('HostView chat line', () => {
  it('c opens it, typing shows, Enter sends without control characters, Esc cancels, r is just a letter there', async () => {
    const view = mount(stateAfter(connected))
    await view.press('c')
    expect(view.lastFrame()).toContain('chat>')
    for (const key of ['h', 'i', ' ', 'r', '\u0007', 'q']) await view.press(key)
    expect(view.lastFrame()).toContain('chat> hi rq')
    await view.press('\r')
    expect(view.props.onChat).toHaveBeenCalledWith('hi rq')
    expect(view.props.onRevoke).not.toHaveBeenCalled()
    expect(view.props.onConfirmEnd).not.toHaveBeenCalled()
    expect(view.lastFrame()).not.toContain('chat>')

    await view.press('c')
    await view.press('x')
    await view.press('\u001b')
    await new Promise((resolve) => setTimeout(resolve, 100)) // Ink waits a moment to tell a lone Esc apart
    expect(view.lastFrame()).not.toContain('chat>')
    expect(view.props.onChat).toHaveBeenCalledTimes(1)
    view.unmount()
  })
})

describe('HostView: the security words come first', () => {
  const asked: HostViewAction = {
    event: 'words-asked',
    sas: 'west lucky violin',
    deadline: new Date(t0.getTime() + 120_000).toISOString(),
  }

  it('shows who connects and the words, then the question; a request waits unseen behind it', async () => {
    const view = mount(stateAfter([...connected, asked, request('r1')]))
    await settle()
    const frame = view.lastFrame() ?? ''
    const order = [
      'technician Alice Smith <alice@acme.example> of Acme IT',
      'security words: west lucky violin',
      'Do these match the words your technician reads you?',
      '[y] yes  [n] no',
    ].map((text) => frame.indexOf(text))
    expect(order.every((index) => index >= 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    expect(frame).toContain('(ends the session in 120 s)')
    expect(frame).not.toContain('wants to')
    expect(frame).not.toContain('[a] allow once')
    view.unmount()
  })

  it('ignores keys typed before the question settled; then [y] confirms and [n] says they differ', async () => {
    const view = mount(stateAfter([...connected, asked]))
    await settle()
    await view.press('y')
    await view.press('a')
    expect(view.props.onWords).not.toHaveBeenCalled()
    await advance(PROMPT_GUARD_MS)
    await view.press('y')
    expect(view.props.onWords.mock.calls).toEqual([[true, undefined]])
    await view.press('n')
    expect(view.props.onWords.mock.calls).toEqual([
      [true, undefined],
      [false, undefined],
    ])
    expect(view.props.onDecision).not.toHaveBeenCalled()
    view.unmount()
  })

  it("answers an invited technician's words by their name (several may be asked in turn)", async () => {
    const bob = { name: 'Bob Jones', email: 'bob@acme.example', organisation: 'Acme IT' }
    const deadline = new Date(t0.getTime() + 120_000).toISOString()
    const view = mount(
      stateAfter([
        ...connected,
        asked,
        { event: 'words-confirmed', by: 'end-user' },
        { event: 'technician-joined', technician: bob, sas: 'red kite lamp' },
        { event: 'words-asked', sas: 'red kite lamp', deadline, technician: bob.email },
      ]),
    )
    await settle()
    await advance(PROMPT_GUARD_MS)
    expect(view.lastFrame()).toContain('red kite lamp')
    await view.press('y')
    expect(view.props.onWords.mock.calls).toEqual([[true, bob.email]])
    view.unmount()
  })

  it('once confirmed, the prompt shows under the words, and the words say they were confirmed', async () => {
    const view = mount(
      stateAfter([...connected, asked, { event: 'words-confirmed', by: 'end-user' }, request('r1')]),
    )
    await settle()
    const frame = view.lastFrame() ?? ''
    expect(frame).toContain('You confirmed these words with your technician.')
    expect(frame.indexOf('wants to open a shell')).toBeGreaterThan(frame.indexOf('security words:'))
    expect(frame).not.toContain('Do they match')
    view.unmount()
  })
})
