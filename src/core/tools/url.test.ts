import { describe, expect, it } from 'vitest'
import { UserError } from '../errors.js'
import { checkUrl, MAX_URL_LENGTH } from './url.js'

describe('checkUrl', () => {
  it('lets http and https addresses through unchanged', () => {
    expect(checkUrl('https://status.acme.example/help?q=1#top')).toBe(
      'https://status.acme.example/help?q=1#top',
    )
    expect(checkUrl('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080/')
  })

  it.each([
    ['file:///etc/passwd', /only http and https/],
    ['javascript:alert(1)', /only http and https/],
    ['ssh://host', /only http and https/],
    ['https://bank.example@evil.example/', /user name or password/],
    ['https://acme.example/\u001b[2Jx', /control or invisible/],
    ['https://acme.example/\u202eexe.txt', /control or invisible/],
    ['https://acme.example/a b', /spaces/],
    ['acme.example/help', /not a web address/],
    [`https://acme.example/${'a'.repeat(MAX_URL_LENGTH)}`, /characters long: at most 2000/],
  ])('refuses %j with a clear usage error', (text, message) => {
    const error = (() => {
      try {
        checkUrl(text)
      } catch (caught) {
        return caught
      }
    })()
    expect(error).toBeInstanceOf(UserError)
    expect((error as UserError).code).toBe('usage')
    expect((error as UserError).message).toMatch(message)
    // The error itself never carries a raw control character to the terminal.
    // eslint-disable-next-line no-control-regex
    expect((error as UserError).message).not.toMatch(/[\u0000-\u001f\u202e]/)
  })
})
