/**
 * The channel link an end user is given: the gateway's URL and the link's secret in one string,
 * `https://rescue.acme.example/join#SECRET`. The secret sits in the fragment, which browsers and
 * proxies never send, and travels to the gateway only in the `rescue-channel-link` header.
 */
import { UserError } from '../errors.js'

const JOIN = '/join'
const SECRET = /^[A-Za-z0-9_-]{20,100}$/

/** The link for `secret` on the gateway at `server` (as the admin reached it). */
export function formatChannelLink(server: string, secret: string): string {
  const url = new URL(server)
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${JOIN}`
  url.search = ''
  url.hash = secret
  return url.toString()
}

/** Splits a channel link into its gateway and secret; a usage error for anything else (a group name). */
export function parseChannelLink(link: string): { server: string; secret: string } {
  const wrong = () =>
    new UserError(
      'usage',
      'that is not a channel link: a channel link looks like https://rescue.example.com/join#…',
      'ask your helpdesk for its channel link (a group name alone no longer lets anyone in)',
    )
  let url: URL
  try {
    url = new URL(link.trim())
  } catch {
    throw wrong()
  }
  const secret = url.hash.slice(1)
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.pathname.endsWith(JOIN)) throw wrong()
  if (!SECRET.test(secret)) throw wrong()
  url.hash = ''
  url.search = ''
  url.pathname = url.pathname.slice(0, -JOIN.length) || '/'
  return { server: url.toString().replace(/\/$/, ''), secret }
}
