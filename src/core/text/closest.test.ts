import { describe, expect, it } from 'vitest'
import { closest, editDistance } from './closest.js'

const commands = ['send', 'get', 'sysinfo', 'chat', 'connect', 'host', 'log', 'login', 'logout', 'queue']

describe('the suggestion for a mistyped command', () => {
  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('sned', 'send')).toBe(1)
    expect(editDistance('conect', 'connect')).toBe(1)
    expect(editDistance('', 'abc')).toBe(3)
    expect(editDistance('same', 'same')).toBe(0)
  })

  it('names the nearest command for a typo', () => {
    expect(closest('sned', commands)).toBe('send')
    expect(closest('conect', commands)).toBe('connect')
    expect(closest('sysnifo', commands)).toBe('sysinfo')
    expect(closest('QUEUE', commands)).toBe('queue')
  })

  it('names nothing when no command is near', () => {
    expect(closest('xyzzyq', commands)).toBeUndefined()
    expect(closest('deploy', commands)).toBeUndefined()
  })
})
