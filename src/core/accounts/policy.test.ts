import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { permissions } from '../consent/types.js'
import { UserError } from '../errors.js'
import type { Group } from '../store/index.js'
import { addressAllowed, combinePolicies, groupPolicy, type GroupPolicy } from './policy.js'

const group = (policy: Partial<GroupPolicy> & { name: string }): GroupPolicy => ({
  allow: [],
  deny: [],
  require2fa: false,
  ipAllow: [],
  ...policy,
})

describe('combining group policies', () => {
  it('denies everything by default: no groups, or groups that allow nothing', () => {
    expect(combinePolicies([]).permissions).toEqual([])
    expect(combinePolicies([group({ name: 'empty' })]).permissions).toEqual([])
  })

  it('allows what one group allows and no group denies; a deny anywhere wins', () => {
    const policy = combinePolicies([
      group({ name: 'helpdesk', allow: ['shell', 'sysinfo', 'files.send'] }),
      group({ name: 'scripts', allow: ['exec'], deny: ['files.send'] }),
    ])
    expect(policy.permissions).toEqual(['shell', 'exec', 'sysinfo'])
    expect(policy.groups).toEqual(['helpdesk', 'scripts'])
  })

  it('single prompt is the single-prompt permission, and a deny removes it', () => {
    expect(combinePolicies([group({ name: 'a', allow: ['single-prompt'] })]).singlePrompt).toBe(true)
    expect(
      combinePolicies([
        group({ name: 'a', allow: ['single-prompt'] }),
        group({ name: 'b', deny: ['single-prompt'] }),
      ]).singlePrompt,
    ).toBe(false)
  })

  it('requires 2FA when any group does, and takes the smallest idle timeout', () => {
    const policy = combinePolicies([
      group({ name: 'a', idleTimeoutMs: 900_000 }),
      group({ name: 'b', require2fa: true, idleTimeoutMs: 300_000 }),
      group({ name: 'c' }),
    ])
    expect(policy.require2fa).toBe(true)
    expect(policy.idleTimeoutMs).toBe(300_000)
    expect(combinePolicies([group({ name: 'a' })]).idleTimeoutMs).toBeUndefined()
  })

  it('an address must be in every allow-list that a group has (the strictest wins)', () => {
    const policy = combinePolicies([
      group({ name: 'office', ipAllow: ['10.0.0.0/8'] }),
      group({ name: 'lab', ipAllow: ['10.1.0.0/16', '192.168.0.0/16'] }),
      group({ name: 'anywhere' }),
    ])
    expect(policy.ipAllow).toHaveLength(2)
    expect(addressAllowed(policy, '10.1.2.3')).toBe(true)
    expect(addressAllowed(policy, '10.2.0.1')).toBe(false) // in office, not in lab
    expect(addressAllowed(policy, '192.168.1.1')).toBe(false) // in lab, not in office
    expect(addressAllowed(policy, undefined)).toBe(false)
    expect(addressAllowed(combinePolicies([group({ name: 'anywhere' })]), undefined)).toBe(true)
  })

  it('property: the result is exactly the allowed minus the denied, in the canonical order', () => {
    const permission = fc.constantFrom(...permissions)
    const arbitraryGroup = fc.record({
      allow: fc.uniqueArray(permission),
      deny: fc.uniqueArray(permission),
    })
    fc.assert(
      fc.property(fc.array(arbitraryGroup, { maxLength: 5 }), (groups) => {
        const policy = combinePolicies(groups.map((g, index) => group({ name: `g${index}`, ...g })))
        for (const name of permissions) {
          const expected =
            groups.some((g) => g.allow.includes(name)) && !groups.some((g) => g.deny.includes(name))
          expect(policy.permissions.includes(name)).toBe(expected)
        }
        expect(policy.permissions).toEqual(permissions.filter((name) => policy.permissions.includes(name)))
      }),
    )
  })
})

describe('a stored group', () => {
  const row = (patch: Partial<Group>): Group => ({
    id: 'g',
    organisation_id: 'o',
    name: 'helpdesk',
    allow: 'shell,exec',
    deny: '',
    require_2fa: 1,
    ip_allow: '10.0.0.0/8',
    idle_timeout_ms: 60_000,
    recording: 'off',
    created_at: '',
    updated_at: '',
    ...patch,
  })

  it('decodes into its policy', () => {
    expect(groupPolicy(row({}))).toEqual({
      name: 'helpdesk',
      allow: ['shell', 'exec'],
      deny: [],
      require2fa: true,
      ipAllow: ['10.0.0.0/8'],
      idleTimeoutMs: 60_000,
      recording: 'off',
    })
  })

  it('requires recording when any group does, keystrokes included when one says so', () => {
    const policy = (recording: string) => groupPolicy(row({ recording }))
    expect(combinePolicies([policy('off'), policy('required')]).recording).toBe('required')
    expect(combinePolicies([policy('required-input'), policy('required')]).recording).toBe('required-input')
    expect(combinePolicies([policy('off')]).recording).toBe('off')
    expect(combinePolicies([]).recording).toBe('off')
  })

  it('with a permission name that does not exist is an error, never ignored', () => {
    expect(() => groupPolicy(row({ allow: 'shell,teleport' }))).toThrow(UserError)
  })
})
