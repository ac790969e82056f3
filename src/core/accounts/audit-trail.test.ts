import { describe, expect, it } from 'vitest'
import { scrub } from './audit-trail.js'

describe('the audit trail', () => {
  it('never keeps a password, hash, salt, secret or token, however nested', () => {
    expect(
      scrub({
        email: 'bob@acme.example',
        password: 'x',
        newPassword: 'x',
        password_hash: 'x',
        salt: 'x',
        totp_secret: 'x',
        token: 'x',
        otpauthUri: 'x',
        nested: { oneTimePassword: 'x', groups: ['helpdesk'] },
      }),
    ).toEqual({ email: 'bob@acme.example', nested: { groups: ['helpdesk'] } })
  })
})
