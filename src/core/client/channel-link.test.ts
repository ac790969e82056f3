import { describe, expect, it } from 'vitest'
import { formatChannelLink, parseChannelLink } from './channel-link.js'

const SECRET = 'q3Vb0mX2kZ9yT6wR1sP4nL7jH8gF5dC0aE2iU9oY3tM'

describe('channel links', () => {
  it('carry the gateway and the secret, and give both back', () => {
    for (const server of [
      'http://127.0.0.1:8080',
      'https://rescue.acme.example',
      'https://acme.example/rescue/',
    ]) {
      const link = formatChannelLink(server, SECRET)
      expect(link).toMatch(/\/join#/)
      expect(parseChannelLink(link)).toEqual({ server: server.replace(/\/$/, ''), secret: SECRET })
    }
  })

  it('refuse a bare group name, a link without a secret, and other schemes, as usage errors', () => {
    for (const text of [
      'helpdesk',
      'http://127.0.0.1:8080/join',
      'http://h/join#short',
      'ftp://h/join#' + SECRET,
      'http://h/other#' + SECRET,
    ]) {
      expect(() => parseChannelLink(text), text).toThrow(expect.objectContaining({ code: 'usage' }))
    }
  })
})
