import { afterEach, describe, expect, it, vi } from 'vitest'
import type { HostActivity } from '../host/events.js'
import { ConsentBroker, MAX_DETAIL_LENGTH, parsePermissionList, type ConsentBrokerOptions } from './index.js'

function broker(options: Partial<ConsentBrokerOptions> = {}) {
  const activity: HostActivity[] = []
  const instance = new ConsentBroker({
    technician: 'ada@example.com',
    interactive: true,
    onActivity: (event) => activity.push(event),
    ...options,
  })
  const requests = () => activity.filter((e) => e.event === 'consent-request')
  const decisions = () => activity.filter((e) => e.event === 'consent-decision')
  return { instance, activity, requests, decisions }
}

afterEach(() => vi.useRealTimers())

describe('consent broker', () => {
  it('waits for the end user, who allows once: the next request asks again', async () => {
    const { instance, requests, decisions } = broker()
    const first = instance.request('exec', 'run a command', 'uname -a')
    instance.answer(requests()[0]!.id, 'once')
    expect(await first).toBe(true)
    const second = instance.request('exec', 'run a command', 'id')
    expect(requests()).toHaveLength(2)
    instance.answer(requests()[1]!.id, 'deny')
    expect(await second).toBe(false)
    expect(decisions().map((d) => [d.decision, d.by])).toEqual([
      ['once', 'end-user'],
      ['deny', 'end-user'],
    ])
  })

  it('a grant for the session covers later requests of that kind only', async () => {
    const { instance, requests, decisions } = broker({ interactive: true })
    const first = instance.request('shell', 'open a shell')
    instance.answer(requests()[0]!.id, 'session')
    expect(await first).toBe(true)
    expect(await instance.request('shell', 'open a shell')).toBe(true)
    expect(decisions()[1]).toMatchObject({ decision: 'once', by: 'session-grant' })
    expect(instance.granted).toEqual(['shell'])
    void instance.request('exec', 'run a command')
    expect(decisions()).toHaveLength(2) // exec still waits for an answer
  })

  it('silence is a denial once the deadline passes', async () => {
    vi.useFakeTimers()
    const { instance, decisions } = broker({ timeoutMs: 60_000 })
    const pending = instance.request('shell', 'open a shell')
    await vi.advanceTimersByTimeAsync(59_999)
    expect(decisions()).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(1)
    expect(await pending).toBe(false)
    expect(decisions()[0]).toMatchObject({ decision: 'deny', by: 'timeout' })
  })

  it('without a terminal everything is denied at once, unless pre-approved', async () => {
    const { instance, decisions } = broker({ interactive: false, autoApprove: ['exec'] })
    expect(await instance.request('shell', 'open a shell')).toBe(false)
    expect(await instance.request('exec', 'run a command')).toBe(true)
    expect(decisions().map((d) => [d.permission, d.decision, d.by])).toEqual([
      ['shell', 'deny', 'no-terminal'],
      ['exec', 'once', 'auto-approve'],
    ])
  })

  it('revoking forgets session grants and denies what waits; ending denies everything after', async () => {
    const { instance, requests, decisions } = broker()
    const granted = instance.request('exec', 'run a command')
    instance.answer(requests()[0]!.id, 'session')
    await granted
    const waiting = instance.request('shell', 'open a shell')
    instance.revoke()
    expect(await waiting).toBe(false)
    expect(instance.granted).toEqual([])
    const asksAgain = instance.request('exec', 'run a command')
    expect(decisions()).toHaveLength(2)
    instance.end()
    expect(await asksAgain).toBe(false)
    expect(await instance.request('exec', 'run a command')).toBe(false)
    expect(decisions().at(-1)).toMatchObject({ decision: 'deny', by: 'ended' })
  })

  it('an unknown or already answered id changes nothing', async () => {
    const { instance, requests, decisions } = broker()
    const pending = instance.request('exec', 'run a command')
    instance.answer('not-an-id', 'once')
    expect(decisions()).toHaveLength(0)
    instance.answer(requests()[0]!.id, 'deny')
    instance.answer(requests()[0]!.id, 'once')
    expect(await pending).toBe(false)
    expect(decisions()).toHaveLength(1)
  })

  it('shows what the technician sent with escape sequences escaped and its length bounded', () => {
    const { instance, requests } = broker()
    void instance.request('exec', 'run a command', `echo \u001b[2J\u001b]0;pwned\u0007 ${'x'.repeat(5000)}`)
    const { detail } = requests()[0]!
    expect([...detail!].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)).toBe(false)
    expect([...detail!].length).toBeLessThanOrEqual(MAX_DETAIL_LENGTH)
    instance.end()
  })
})

describe('permission lists', () => {
  it('parses names and refuses an unknown one, naming it', () => {
    expect(parsePermissionList('shell, exec,shell')).toEqual(['shell', 'exec'])
    expect(() => parsePermissionList('shell,sudo')).toThrow(/unknown permission "sudo"/)
  })
})
