import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { open, seal } from './secret-box.js'

describe('sealed secrets', () => {
  const key = randomBytes(32)

  it('open what was sealed, and never show the secret in the sealed text', () => {
    const sealed = seal(key, 'JBSWY3DPEHPK3PXP', 'user-1')
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP')
    expect(open(key, sealed, 'user-1')).toBe('JBSWY3DPEHPK3PXP')
    expect(seal(key, 'JBSWY3DPEHPK3PXP', 'user-1')).not.toBe(sealed)
  })

  it('refuse another key, another user, and any altered byte', () => {
    const sealed = seal(key, 'JBSWY3DPEHPK3PXP', 'user-1')
    expect(() => open(randomBytes(32), sealed, 'user-1')).toThrow()
    expect(() => open(key, sealed, 'user-2')).toThrow()
    const parts = sealed.split('.')
    const last = parts[3]!
    parts[3] = (last[0] === 'A' ? 'B' : 'A') + last.slice(1)
    expect(() => open(key, parts.join('.'), 'user-1')).toThrow()
    expect(() => open(key, 'garbage', 'user-1')).toThrow()
  })
})
