import { afterEach, describe, expect, it, vi } from 'vitest'
import type { HostActivity } from '../host/events.js'
import {
  ConsentBroker,
  isInside,
  MAX_DETAIL_LENGTH,
  parsePermissionList,
  type ConsentBrokerOptions,
} from './index.js'

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

describe('grants limited to a folder', () => {
  const inTmp = (file: string) => ({ path: `/tmp/drop/${file}`, folder: '/tmp/drop' })

  it('"f" allows that kind of file request inside the folder for the session, and nowhere else', async () => {
    const { instance, requests, decisions } = broker()
    const first = instance.request('files.send', 'put a file', '/tmp/drop/a', undefined, inTmp('a'))
    expect(requests()[0]!.folder).toBe('/tmp/drop')
    instance.answer(requests()[0]!.id, 'folder')
    expect(await first).toBe(true)
    expect(
      await instance.request('files.send', 'put a file', '/tmp/drop/sub/b', undefined, inTmp('sub/b')),
    ).toBe(true)
    // Next to the folder, in a folder whose name starts the same, or another kind: asked again.
    const beside = instance.request('files.send', 'put a file', '/tmp/dropped', undefined, {
      path: '/tmp/drop-other/c',
      folder: '/tmp/drop-other',
    })
    const other = instance.request('files.receive', 'copy a file', '/tmp/drop/a', undefined, inTmp('a'))
    expect(requests()).toHaveLength(4)
    instance.answer(requests()[2]!.id, 'deny')
    instance.answer(requests()[3]!.id, 'deny')
    expect([await beside, await other]).toEqual([false, false])
    expect(decisions().map((d) => [d.decision, d.by, d.folder])).toEqual([
      ['folder', 'end-user', '/tmp/drop'],
      ['once', 'folder-grant', undefined],
      ['deny', 'end-user', undefined],
      ['deny', 'end-user', undefined],
    ])
  })

  it('"f" on a request that names no folder counts as once', async () => {
    const { instance, requests, decisions } = broker()
    const asked = instance.request('shell', 'open a shell')
    instance.answer(requests()[0]!.id, 'folder')
    expect(await asked).toBe(true)
    expect(decisions()[0]).toMatchObject({ decision: 'once', by: 'end-user' })
    void instance.request('shell', 'open a shell')
    expect(requests()).toHaveLength(2)
  })

  it('a folder transfer grant lasts until its transfer ends, and a revoke ends it sooner', async () => {
    const { instance, requests, decisions } = broker()
    const transfer = new AbortController()
    instance.grantTransfer(['files.send', 'files.browse'], '/tmp/drop', transfer.signal)
    expect(await instance.request('files.browse', 'look at a file', '', undefined, inTmp('x'))).toBe(true)
    // Changing what is there is no part of a folder transfer: the end user is asked.
    void instance.request('files.modify', 'delete a file', '', undefined, inTmp('x'))
    expect(requests()).toHaveLength(2)
    expect(decisions()).toEqual([
      expect.objectContaining({ permission: 'files.browse', by: 'transfer-grant' }),
    ])
    transfer.abort()
    void instance.request('files.send', 'put a file', '', undefined, inTmp('y'))
    expect(requests()).toHaveLength(3)

    const again = new AbortController()
    instance.grantTransfer(['files.send'], '/tmp/drop', again.signal)
    instance.revoke()
    void instance.request('files.send', 'put a file', '', undefined, inTmp('z'))
    expect(requests()).toHaveLength(4)
  })
})

describe('isInside', () => {
  it('holds for the folder and what lies under it, not for siblings sharing a prefix or parents', () => {
    expect(isInside('/tmp/drop', '/tmp/drop')).toBe(true)
    expect(isInside('/tmp/drop/a/b', '/tmp/drop')).toBe(true)
    expect(isInside('/tmp/drop/..hidden', '/tmp/drop')).toBe(true)
    expect(isInside('/tmp/dropped', '/tmp/drop')).toBe(false)
    expect(isInside('/tmp', '/tmp/drop')).toBe(false)
    expect(isInside('/tmp/drop/../etc', '/tmp/drop')).toBe(false)
  })
})

describe('the policy the gateway sent', () => {
  it('refuses unasked what the technician’s groups do not allow, even when auto-approved', async () => {
    const { instance, requests, decisions } = broker({ policy: ['shell'], autoApprove: ['exec'] })
    expect(await instance.request('exec', 'run a command', 'id')).toBe(false)
    expect(decisions()[0]).toMatchObject({ permission: 'exec', decision: 'deny', by: 'policy' })
    const shell = instance.request('shell', 'open a shell')
    expect(requests()).toHaveLength(2)
    instance.answer(requests()[1]!.id, 'once')
    expect(await shell).toBe(true)
  })

  it('the single prompt lists everything allowed in words and, allowed for the session, grants each', async () => {
    const { instance, requests, decisions } = broker({
      policy: ['single-prompt', 'shell', 'sysinfo', 'private'],
    })
    expect(instance.everythingAllowed).toEqual(['shell', 'sysinfo'])
    const asked = instance.requestEverything()
    expect(requests()[0]).toMatchObject({
      permission: 'single-prompt',
      sessionOnly: true,
      covers: ['shell', 'sysinfo'],
    })
    expect(requests()[0]!.summary).toContain('open a shell and see system information')
    expect(requests()[0]!.summary).not.toContain('sysinfo')
    instance.answer(requests()[0]!.id, 'session')
    expect(await asked).toMatchObject({ allowed: true, decision: 'session', by: 'end-user' })
    expect(decisions()[0]).toMatchObject({ decision: 'session', covers: ['shell', 'sysinfo'] })
    expect(await instance.request('sysinfo', 'read system information')).toBe(true)
    expect(await instance.request('shell', 'open a shell')).toBe(true)
    expect(await instance.request('exec', 'run a command', 'id')).toBe(false)
    expect(requests()).toHaveLength(4)
  })

  it('"once" is no answer to the single prompt: it grants nothing and the prompt stays', async () => {
    const { instance, requests, decisions } = broker({ policy: ['single-prompt', 'sysinfo'] })
    const asked = instance.requestEverything()
    instance.answer(requests()[0]!.id, 'once')
    instance.answer(requests()[0]!.id, 'folder')
    expect(decisions()).toHaveLength(0)
    instance.answer(requests()[0]!.id, 'deny')
    expect(await asked).toMatchObject({ allowed: false, by: 'end-user' })
    // A later sysinfo is asked, not run unasked.
    void instance.request('sysinfo', 'read system information')
    expect(requests()).toHaveLength(2)
    expect(instance.granted).toEqual([])
  })

  it('without single-prompt in the policy, the single prompt is refused unasked', async () => {
    const { instance, decisions } = broker({ policy: ['shell'] })
    expect(await instance.requestEverything()).toMatchObject({ allowed: false, by: 'policy' })
    expect(decisions()[0]).toMatchObject({ permission: 'single-prompt', by: 'policy' })
  })

  it('refuses unasked, naming it, a request that needs a permission the policy does not allow', async () => {
    const { instance, decisions } = broker({ policy: ['files.send'] })
    const outcome = await instance.decide('files.send', 'put a folder on this computer', {
      needs: ['files.browse'],
    })
    expect(outcome).toMatchObject({ allowed: false, by: 'policy', permission: 'files.browse' })
    expect(decisions()[0]).toMatchObject({ decision: 'deny', by: 'policy' })
  })
})

describe('why a request was refused', () => {
  it('says how long the end user had when nobody answered', async () => {
    vi.useFakeTimers()
    const { instance } = broker({ timeoutMs: 30_000 })
    const pending = instance.decide('shell', 'open a shell')
    await vi.advanceTimersByTimeAsync(30_000)
    expect(await pending).toMatchObject({ allowed: false, by: 'timeout', seconds: 30, permission: 'shell' })
  })

  it('no terminal, revoked while waiting, and the session ending each say so', async () => {
    expect(await broker({ interactive: false }).instance.decide('exec', 'run')).toMatchObject({
      by: 'no-terminal',
    })
    const { instance } = broker()
    const waiting = instance.decide('exec', 'run')
    instance.revoke()
    expect(await waiting).toMatchObject({ allowed: false, by: 'revoked' })
    const later = instance.decide('exec', 'run')
    instance.end()
    expect(await later).toMatchObject({ allowed: false, by: 'ended' })
  })
})
