import { describe, expect, it } from 'vitest'
import type { ConsentRequest } from '../consent/types.js'
import type { HostActivity } from './events.js'
import {
  FEED_LIMIT,
  initialHostView,
  reduceHostView,
  type HostViewAction,
  type HostViewState,
} from './view-state.js'

const t0 = new Date('2025-01-01T12:00:00.000Z')
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000)

function request(id: string, overrides: Partial<ConsentRequest> = {}): HostActivity {
  return {
    event: 'consent-request',
    id,
    permission: 'shell',
    summary: 'open a shell as bob on this computer',
    technician: 'alice@acme.example',
    deadline: at(60).toISOString(),
    ...overrides,
  }
}

function run(actions: HostViewAction[], state = initialHostView(), now = t0): HostViewState {
  return actions.reduce((current, action) => reduceHostView(current, action, now), state)
}

const paired: HostViewAction[] = [
  { event: 'waiting', role: 'host', sessionId: 's', expiresAt: at(300).toISOString() },
  { event: 'paired', role: 'host', sessionId: 's', sas: 'west lucky violin' },
]

const lastFeed = (state: HostViewState) => state.feed.at(-1)?.text

describe('reduceHostView', () => {
  it('starts as the host, connecting, with nothing pending, granted or open', () => {
    expect(initialHostView()).toEqual({
      role: 'host',
      phase: 'connecting',
      prompts: [],
      askedAt: {},
      grants: [],
      autoApprove: [],
      openChannels: [],
      transfers: [],
      feed: [],
      confirmingEnd: false,
      words: 'unasked',
    })
  })

  it('follows the session events like the session view does', () => {
    const waiting = run(paired.slice(0, 1))
    expect(waiting).toMatchObject({ phase: 'waiting', expiresAt: at(300).toISOString(), role: 'host' })
    const connected = run(paired)
    expect(connected).toMatchObject({ phase: 'connected', sas: 'west lucky violin', role: 'host' })
  })

  it('queues consent requests oldest first and says who asks for what in the feed', () => {
    const state = run([
      ...paired,
      request('r1'),
      request('r2', { permission: 'exec', summary: 'run a command as bob', detail: 'uname -a' }),
    ])
    expect(state.prompts.map((prompt) => prompt.id)).toEqual(['r1', 'r2'])
    expect(state.prompts[0]).not.toHaveProperty('event')
    expect(state.feed).toEqual([
      { time: t0.toISOString(), text: 'alice@acme.example asks to open a shell as bob on this computer' },
      { time: t0.toISOString(), text: 'alice@acme.example asks to run a command as bob: uname -a' },
    ])
  })

  it('ignores a request repeated with the same id, and any request after the session ended', () => {
    const repeated = run([...paired, request('r1'), request('r1')])
    expect(repeated.prompts).toHaveLength(1)
    expect(repeated.feed).toHaveLength(1)
    const late = run([...paired, { event: 'ended', by: 'host', reason: 'bye' }, request('r1')])
    expect(late.prompts).toEqual([])
  })

  it('removes the decided prompt, whichever it is', () => {
    const state = run([
      ...paired,
      request('r1'),
      request('r2'),
      { event: 'consent-decision', id: 'r2', permission: 'shell', decision: 'deny', by: 'end-user' },
    ])
    expect(state.prompts.map((prompt) => prompt.id)).toEqual(['r1'])
    expect(state.askedAt).not.toHaveProperty('r2')
    expect(lastFeed(state)).toBe('you denied the shell')
  })

  it('words each decision of the end user', () => {
    const decide = (decision: 'once' | 'session' | 'deny') =>
      lastFeed(
        run([
          ...paired,
          request('r1'),
          { event: 'consent-decision', id: 'r1', permission: 'shell', decision, by: 'end-user' },
        ]),
      )
    expect(decide('once')).toBe('you allowed the shell once')
    expect(decide('session')).toBe('you allowed the shell for this session')
    expect(decide('deny')).toBe('you denied the shell')
  })

  it('adds a "for this session" answer to the grants, in words, once each', () => {
    const state = run([
      ...paired,
      { event: 'consent-decision', id: 'a', permission: 'shell', decision: 'session', by: 'end-user' },
      { event: 'consent-decision', id: 'b', permission: 'exec', decision: 'session', by: 'end-user' },
      { event: 'consent-decision', id: 'c', permission: 'shell', decision: 'session', by: 'end-user' },
      { event: 'consent-decision', id: 'd', permission: 'sysinfo', decision: 'once', by: 'end-user' },
    ])
    expect(state.grants).toEqual(['open a shell', 'run commands'])
  })

  it('a single prompt allowed for the session lists everything it granted, in words', () => {
    const state = run([
      ...paired,
      {
        event: 'consent-decision',
        id: 'all',
        permission: 'single-prompt',
        decision: 'session',
        by: 'end-user',
        covers: ['files.send', 'shell', 'sysinfo'],
      },
    ])
    expect(state.grants).toEqual(['send files to this computer', 'open a shell', 'see system information'])
    expect(lastFeed(state)).toBe(
      'you allowed everything at once for this session: send files to this computer, open a shell, see system information',
    )
  })

  it('says how long a timed-out request waited, from its deadline and when it arrived', () => {
    let state = run([...paired, request('r1')])
    state = reduceHostView(
      state,
      { event: 'consent-decision', id: 'r1', permission: 'shell', decision: 'deny', by: 'timeout' },
      at(60),
    )
    expect(state.feed.at(-1)).toEqual({
      time: at(60).toISOString(),
      text: 'the shell was denied: no answer in 60 s',
    })
    expect(state.prompts).toEqual([])
  })

  it('says why a decision was made without the end user', () => {
    const decided = (by: 'auto-approve' | 'session-grant' | 'no-terminal' | 'unknown-request' | 'ended') =>
      lastFeed(
        run([
          ...paired,
          request('r1'),
          {
            event: 'consent-decision',
            id: 'r1',
            permission: 'shell',
            decision: by === 'auto-approve' || by === 'session-grant' ? 'once' : 'deny',
            by,
          },
        ]),
      )
    expect(decided('auto-approve')).toBe('the shell was allowed: pre-approved')
    expect(decided('session-grant')).toBe('the shell was allowed: granted for this session')
    expect(decided('no-terminal')).toBe('the shell was denied: no terminal to ask on')
    expect(decided('unknown-request')).toBe(
      'the shell was denied: not a request this computer knows how to ask about',
    )
    expect(decided('ended')).toBe('the shell was denied: the session ended')
    const afterEnd = run([
      ...paired,
      { event: 'ended', by: 'technician', reason: 'the technician ended the session' },
      { event: 'consent-decision', id: 'r1', permission: 'shell', decision: 'deny', by: 'ended' },
    ])
    expect(lastFeed(afterEnd)).toBe('the shell was denied: the session ended')
  })

  it('does not count a pre-approved or already granted request as a new session grant', () => {
    const state = run([
      ...paired,
      { event: 'consent-decision', id: 'a', permission: 'shell', decision: 'once', by: 'auto-approve' },
      { event: 'consent-decision', id: 'b', permission: 'exec', decision: 'once', by: 'session-grant' },
    ])
    expect(state.grants).toEqual([])
  })

  it('lists open channels and logs what opened', () => {
    const state = run([
      ...paired,
      { event: 'channel-open', channel: 1, kind: 'shell' },
      { event: 'channel-open', channel: 2, kind: 'exec', command: 'uname -a' },
    ])
    expect(state.openChannels).toEqual([
      { channel: 1, kind: 'shell' },
      { channel: 2, kind: 'exec', command: 'uname -a' },
    ])
    expect(state.feed.map((entry) => entry.text)).toEqual(['shell opened', 'ran: uname -a'])
  })

  it('removes a closed channel and logs how it ended', () => {
    const open = run([
      ...paired,
      { event: 'channel-open', channel: 1, kind: 'shell' },
      { event: 'channel-open', channel: 2, kind: 'exec', command: 'uname -a' },
      { event: 'channel-open', channel: 3, kind: 'exec', command: 'sleep 100' },
    ])
    const shellClosed = reduceHostView(
      open,
      { event: 'channel-close', channel: 1, kind: 'shell', exitCode: 0 },
      t0,
    )
    expect(shellClosed.openChannels.map((channel) => channel.channel)).toEqual([2, 3])
    expect(lastFeed(shellClosed)).toBe('shell closed')
    const exited = reduceHostView(
      shellClosed,
      { event: 'channel-close', channel: 2, kind: 'exec', exitCode: 7 },
      t0,
    )
    expect(exited.openChannels.map((channel) => channel.channel)).toEqual([3])
    expect(lastFeed(exited)).toBe('command finished, exit status 7')
    const killed = reduceHostView(
      exited,
      { event: 'channel-close', channel: 3, kind: 'exec', signal: 'TERM' },
      t0,
    )
    expect(killed.openChannels).toEqual([])
    expect(lastFeed(killed)).toBe('command ended by signal TERM')
  })

  it('forgets grants and open channels when the end user revokes, but keeps what is pre-approved', () => {
    const state = run([
      ...paired,
      { event: 'auto-approve', permissions: ['sysinfo'] },
      { event: 'consent-decision', id: 'a', permission: 'shell', decision: 'session', by: 'end-user' },
      { event: 'channel-open', channel: 1, kind: 'shell' },
      { event: 'channel-open', channel: 2, kind: 'shell' },
      { event: 'grants-revoked', closedChannels: 2 },
    ])
    expect(state.grants).toEqual([])
    expect(state.openChannels).toEqual([])
    expect(state.autoApprove).toEqual(['sysinfo'])
    expect(lastFeed(state)).toBe(
      'you revoked every grant; 2 channels closed; the technician is still connected: q ends the session',
    )
    expect(lastFeed(run([{ event: 'grants-revoked', closedChannels: 1 }]))).toBe(
      'you revoked every grant; 1 channel closed; the technician is still connected: q ends the session',
    )
    expect(lastFeed(run([{ event: 'grants-revoked', closedChannels: 0 }]))).toBe(
      'you revoked every grant; no channel was open; the technician is still connected: q ends the session',
    )
  })

  it('records what --auto-approve pre-approved, once each, in the order given', () => {
    const state = run([{ event: 'auto-approve', permissions: ['shell', 'exec', 'shell'] }])
    expect(state.autoApprove).toEqual(['shell', 'exec'])
    expect(lastFeed(state)).toBe('pre-approved by --auto-approve: shell, exec')
    expect(run([{ event: 'auto-approve', permissions: [] }]).feed).toEqual([])
  })

  it('logs a request refused without a prompt', () => {
    const state = run([...paired, { event: 'refused', request: 'port forwarding to 10.0.0.1:22' }])
    expect(state.prompts).toEqual([])
    expect(lastFeed(state)).toBe('refused without asking: port forwarding to 10.0.0.1:22')
  })

  it("logs the technician's locale passed on to a command", () => {
    const state = run([...paired, { event: 'env', name: 'LC_TIME', value: 'en_GB.UTF-8' }])
    expect(state.prompts).toEqual([])
    expect(lastFeed(state)).toBe("passed on the technician's LC_TIME=en_GB.UTF-8 (a locale setting)")
  })

  it('asks to confirm before ending, and can be cancelled', () => {
    const confirming = run([...paired, { event: 'confirm-end' }])
    expect(confirming.confirmingEnd).toBe(true)
    expect(run([{ event: 'cancel-end' }], confirming).confirmingEnd).toBe(false)
  })

  it('clears prompts and the confirmation when the session ends, and ignores confirm-end afterwards', () => {
    const state = run([
      ...paired,
      request('r1'),
      { event: 'confirm-end' },
      { event: 'ended', by: 'gateway', reason: 'the gateway closed', code: 'connectionLost' },
    ])
    expect(state).toMatchObject({ phase: 'ended', prompts: [], askedAt: {}, confirmingEnd: false })
    expect(state.ended).toEqual({ by: 'gateway', reason: 'the gateway closed', abnormal: true })
    expect(run([{ event: 'confirm-end' }], state).confirmingEnd).toBe(false)
  })

  it(`keeps only the newest ${FEED_LIMIT} feed entries`, () => {
    const opens: HostViewAction[] = Array.from({ length: FEED_LIMIT + 5 }, (_, index) => ({
      event: 'channel-open',
      channel: index + 1,
      kind: 'exec',
      command: `echo ${index + 1}`,
    }))
    const state = run(opens)
    expect(state.feed).toHaveLength(FEED_LIMIT)
    expect(state.feed[0]?.text).toBe('ran: echo 6')
    expect(lastFeed(state)).toBe(`ran: echo ${FEED_LIMIT + 5}`)
  })

  it('does not change the state it was given', () => {
    const before = run([...paired, request('r1')])
    const snapshot = structuredClone(before)
    reduceHostView(before, {
      event: 'consent-decision',
      id: 'r1',
      permission: 'shell',
      decision: 'session',
      by: 'end-user',
    })
    reduceHostView(before, { event: 'ended', by: 'host', reason: 'bye' })
    expect(before).toEqual(snapshot)
  })
})

describe('files on their way', () => {
  const progress = (bytes: number): HostViewAction => ({
    event: 'file-progress',
    direction: 'to-host',
    path: '/tmp/fix.sh',
    bytes,
    total: 4096,
  })

  it('shows each transfer once with its latest figures, and logs its outcome when it ends', () => {
    const moving = run([...paired, progress(1024), progress(3072)])
    expect(moving.transfers).toEqual([
      { direction: 'to-host', path: '/tmp/fix.sh', bytes: 3072, total: 4096 },
    ])
    const done = run(
      [
        {
          event: 'file-transfer',
          direction: 'to-host',
          path: '/tmp/fix.sh',
          bytes: 4096,
          sha256: 'ab'.repeat(32),
          complete: true,
        },
      ],
      moving,
    )
    expect(done.transfers).toEqual([])
    expect(lastFeed(done)).toBe('received /tmp/fix.sh (4.0 KiB, SHA-256 abababababababab…)')
  })

  it('lists a grant limited to a folder with its folder', () => {
    const state = run([
      ...paired,
      request('f1', { permission: 'files.send', folder: '/tmp/drop' }),
      {
        event: 'consent-decision',
        id: 'f1',
        permission: 'files.send',
        decision: 'folder',
        by: 'end-user',
        folder: '/tmp/drop',
      },
    ])
    expect(state.grants).toEqual(['send files to this computer, only in /tmp/drop'])
    expect(lastFeed(state)).toBe(
      'you allowed sending files to this computer for this session, only in /tmp/drop',
    )
  })
})

describe('a transferred session', () => {
  it('forgets the words, grants, prompts and channels of the last technician and names the next', () => {
    const before = run([
      ...paired,
      request('r1', { permission: 'exec' }),
      { event: 'consent-decision', id: 'r1', permission: 'exec', decision: 'session', by: 'end-user' },
      { event: 'channel-open', channel: 1, kind: 'exec', command: 'id' },
      request('r2'),
    ])
    expect(before.grants).toEqual(['run commands'])
    const after = run(
      [
        {
          event: 'transferred',
          role: 'host',
          sessionId: 's',
          to: { name: 'Carol', email: 'carol@acme.example', organisation: 'Acme IT' },
        },
      ],
      before,
    )
    expect(after).toMatchObject({ phase: 'waiting', grants: [], prompts: [], openChannels: [] })
    expect(after.sas).toBeUndefined()
    expect(after.technician?.email).toBe('carol@acme.example')
    expect(lastFeed(after)).toBe(
      'handed over to Carol <carol@acme.example>: everything you allowed is revoked',
    )
  })
})

describe('reduceHostView: the security words', () => {
  const asked: HostViewAction = {
    event: 'words-asked',
    sas: 'west lucky violin',
    deadline: at(120).toISOString(),
  }

  it('asks once paired, with the deadline, and says nothing in the feed until answered', () => {
    const state = run([...paired, asked])
    expect(state).toMatchObject({ phase: 'connected', words: 'asking', wordsDeadline: at(120).toISOString() })
    expect(state.feed).toEqual([])
  })

  it('is not asked before pairing, nor twice for one pairing', () => {
    expect(run([paired[0]!, asked]).words).toBe('unasked')
    const confirmed = run([...paired, asked, { event: 'words-confirmed', by: 'end-user' }])
    expect(run([asked], confirmed).words).toBe('confirmed')
  })

  it('a yes is kept and logged; the question goes', () => {
    const state = run([...paired, asked, { event: 'words-confirmed', by: 'end-user' }])
    expect(state.words).toBe('confirmed')
    expect(state.wordsDeadline).toBeUndefined()
    expect(lastFeed(state)).toBe('you confirmed the security words with your technician')
  })

  it('a no, or silence, says why the session ends', () => {
    const no = run([...paired, asked, { event: 'words-rejected', by: 'end-user' }])
    expect(no.words).toBe('unasked')
    expect(lastFeed(no)).toBe('you said the security words differ: the session ends')
    const silence = run([...paired, asked, { event: 'words-rejected', by: 'timeout' }])
    expect(lastFeed(silence)).toBe('the security words were not confirmed in time: the session ends')
  })

  it('the end of the session takes the question away; a q pressed before it is forgotten', () => {
    const ending = run([...paired, { event: 'confirm-end' }, asked])
    expect(ending).toMatchObject({ words: 'asking', confirmingEnd: false })
    const ended = run([{ event: 'ended', by: 'gateway', reason: 'lost', code: 'connectionLost' }], ending)
    expect(ended.words).toBe('unasked')
    expect(ended.wordsDeadline).toBeUndefined()
  })

  it('a new technician (transfer) brings new words to confirm: the old yes does not carry over', () => {
    const confirmed = run([...paired, asked, { event: 'words-confirmed', by: 'end-user' }])
    const to = { name: 'Carol', email: 'carol@acme.example', organisation: 'Acme IT' }
    const handedOver = run([{ event: 'transferred', role: 'host', sessionId: 's', to }], confirmed)
    expect(handedOver.words).toBe('unasked')
    const next = run(
      [{ event: 'paired', role: 'host', sessionId: 's', sas: 'other three words' }, asked],
      handedOver,
    )
    expect(next).toMatchObject({ words: 'asking', sas: 'other three words' })
  })

  it('keeps a request that arrives while asking (the host never sends one) behind the question', () => {
    const state = run([...paired, asked, request('r1')])
    expect(state.words).toBe('asking')
    expect(state.prompts.map((prompt) => prompt.id)).toEqual(['r1'])
  })
})

describe('a recorded session', () => {
  it('shows REC while the technician records, and says why it stopped', () => {
    const started = run([{ event: 'recording', state: 'started', required: true, input: true }])
    expect(started.recorded).toEqual({ input: true })
    expect(started.feed.at(-1)?.text).toMatch(
      /records this session's shells and commands, keystrokes included/,
    )
    const stopped = run(
      [{ event: 'recording', state: 'stopped', required: true, input: true, reason: 'the disk is full' }],
      started,
    )
    expect(stopped.recorded).toBeUndefined()
    expect(stopped.feed.at(-1)?.text).toMatch(
      /recording stopped: the disk is full; shells and commands were closed/,
    )
  })

  it("asks an invited technician's words in place of the lead's, lists them, and forgets them when they leave", () => {
    const dana = { name: 'Dana Kim', email: 'dana@acme.example', organisation: 'Acme IT' }
    const bob = { name: 'Bob Jones', email: 'bob@acme.example', organisation: 'Acme IT' }
    const lead = run([
      ...paired.slice(0, 1),
      { event: 'paired', role: 'host', sessionId: 's', sas: 'west lucky violin', technician: dana },
      { event: 'words-asked', sas: 'west lucky violin', deadline: at(120).toISOString() },
      { event: 'words-confirmed', by: 'end-user' },
    ])
    const asking = run(
      [
        { event: 'technician-joined', technician: bob, sas: 'red kite lamp' },
        {
          event: 'words-asked',
          sas: 'red kite lamp',
          deadline: at(120).toISOString(),
          technician: bob.email,
        },
      ],
      lead,
    )
    expect(asking).toMatchObject({ words: 'asking', sas: 'red kite lamp', technician: bob })
    expect(Object.keys(asking.joining ?? {})).toEqual([bob.email])
    const confirmed = run([{ event: 'words-confirmed', by: 'end-user', technician: bob.email }], asking)
    expect(confirmed).toMatchObject({ words: 'confirmed', sas: 'west lucky violin', technician: dana })
    expect(confirmed.lead).toBeUndefined()
    const left = run(
      [{ event: 'technician-left', technician: bob, removed: true, reason: 'the end user removed them' }],
      confirmed,
    )
    expect(left.joining).toEqual({})
    expect(lastFeed(left)).toBe('Bob Jones <bob@acme.example> left: the end user removed them')
  })

  it('drops the session’s own technician when they leave and the invited ones go on', () => {
    const dana = { name: 'Dana Kim', email: 'dana@acme.example', organisation: 'Acme IT' }
    const bob = { name: 'Bob Jones', email: 'bob@acme.example', organisation: 'Acme IT' }
    const withBob = run([
      ...paired.slice(0, 1),
      { event: 'paired', role: 'host', sessionId: 's', sas: 'west lucky violin', technician: dana },
      { event: 'words-asked', sas: 'west lucky violin', deadline: at(120).toISOString() },
      { event: 'words-confirmed', by: 'end-user' },
      { event: 'technician-joined', technician: bob, sas: 'red kite lamp' },
      { event: 'words-asked', sas: 'red kite lamp', deadline: at(120).toISOString(), technician: bob.email },
      { event: 'words-confirmed', by: 'end-user', technician: bob.email },
    ])
    const left = run(
      [
        {
          event: 'technician-left',
          technician: dana,
          removed: false,
          reason: 'they left the session',
          first: true,
        },
      ],
      withBob,
    )
    expect(left).toMatchObject({ phase: 'connected', words: 'confirmed' })
    expect(left.technician).toBeUndefined()
    expect(left.sas).toBeUndefined()
    expect(Object.keys(left.joining ?? {})).toEqual([bob.email])
    expect(lastFeed(left)).toBe('Dana Kim <dana@acme.example> left: they left the session')
  })
  it("asks two invited technicians' words in turn, each under its own name, and drops words that ran out of time while waiting", () => {
    const dana = { name: 'Dana Kim', email: 'dana@acme.example', organisation: 'Acme IT' }
    const bob = { name: 'Bob Jones', email: 'bob@acme.example', organisation: 'Acme IT' }
    const carol = { name: 'Carol Diaz', email: 'carol@acme.example', organisation: 'Acme IT' }
    const erin = { name: 'Erin Wu', email: 'erin@acme.example', organisation: 'Acme IT' }
    const wordsOf = (who: typeof bob, sas: string): HostViewAction[] => [
      { event: 'technician-joined', technician: who, sas },
      { event: 'words-asked', sas, deadline: at(120).toISOString(), technician: who.email },
    ]
    const three = run([
      ...paired.slice(0, 1),
      { event: 'paired', role: 'host', sessionId: 's', sas: 'west lucky violin', technician: dana },
      { event: 'words-asked', sas: 'west lucky violin', deadline: at(120).toISOString() },
      { event: 'words-confirmed', by: 'end-user' },
      ...wordsOf(bob, 'red kite lamp'),
      ...wordsOf(carol, 'blue fox chair'),
      ...wordsOf(erin, 'green owl door'),
    ])
    // Bob's are on screen; Carol's and Erin's wait their turn rather than go unasked.
    expect(three).toMatchObject({ words: 'asking', sas: 'red kite lamp', technician: bob })
    expect(three.wordsWaiting?.map((asked) => asked.technician)).toEqual([carol.email, erin.email])
    // Erin's ran out of time while waiting: gone from the queue, Bob's question stays.
    const erinLate = run([{ event: 'words-rejected', by: 'timeout', technician: erin.email }], three)
    expect(erinLate).toMatchObject({ words: 'asking', sas: 'red kite lamp', technician: bob })
    expect(erinLate.wordsWaiting?.map((asked) => asked.technician)).toEqual([carol.email])
    // Bob answered: Carol's words come next, then the lead's identity is back.
    const carolAsked = run([{ event: 'words-confirmed', by: 'end-user', technician: bob.email }], erinLate)
    expect(carolAsked).toMatchObject({ words: 'asking', sas: 'blue fox chair', technician: carol })
    expect(lastFeed(carolAsked)).toMatch(
      /Carol Diaz <carol@acme.example> \(invited\) reads you security words/,
    )
    const done = run([{ event: 'words-rejected', by: 'end-user', technician: carol.email }], carolAsked)
    expect(done).toMatchObject({ words: 'confirmed', sas: 'west lucky violin', technician: dana })
    expect(done.wordsWaiting).toEqual([])
  })
})
