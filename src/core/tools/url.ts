/**
 * `rescue url`: a web address the technician asks the end user's computer to open with its
 * system opener (xdg-open, open, rundll32). Checked on both sides, the same way: http(s) only,
 * no user name or password in it (https://bank.example@evil.example), no control or invisible
 * characters, no spaces, at most MAX_URL_LENGTH characters, so the prompt shows it whole and
 * what is opened is exactly what was shown. Imports core only.
 */
import { spawn } from 'node:child_process'
import type ssh2 from 'ssh2'
import { UserError } from '../errors.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { URL_SUBSYSTEM } from '../ssh/subsystems.js'

export const MAX_URL_LENGTH = 2000

// C0, DEL, C1, bidi controls and other invisible format characters, and any white space.
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u0020\u007f-\u00a0\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u

/** The address as given when it may be opened; a UserError saying why not otherwise. */
export function checkUrl(text: string): string {
  const shown = sanitizeForTerminal(text, 80)
  if ([...text].length > MAX_URL_LENGTH) {
    throw new UserError(
      'usage',
      `the address is ${[...text].length} characters long: at most ${MAX_URL_LENGTH}`,
    )
  }
  if (FORBIDDEN.test(text)) {
    throw new UserError('usage', `the address ${shown} holds spaces, control or invisible characters`)
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UserError(
      'usage',
      `${shown} is not a web address`,
      'give a full address: https://example.com/page',
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError(
      'usage',
      `only http and https addresses can be opened, not ${sanitizeForTerminal(url.protocol, 40)}`,
    )
  }
  if (!url.hostname) throw new UserError('usage', `the address ${shown} names no host`)
  if (url.username || url.password) {
    throw new UserError(
      'usage',
      `the address ${shown} holds a user name or password: it could hide where it goes`,
    )
  }
  return text
}

/** Opens `url` with the system's opener, or the command RESCUE_URL_OPENER names (tests). */
export function openWithSystem(url: string): Promise<void> {
  const [command, args] =
    process.env.RESCUE_URL_OPENER !== undefined
      ? [process.env.RESCUE_URL_OPENER, [url]]
      : process.platform === 'darwin'
        ? ['open', [url]]
        : process.platform === 'win32'
          ? ['rundll32', ['url.dll,FileProtocolHandler', url]]
          : ['xdg-open', [url]]
  return new Promise((resolve, reject) => {
    // No shell: the address is one argument, whatever it holds.
    const child = spawn(command, args, { stdio: 'ignore', detached: true })
    child.once('error', (error) => reject(new Error(`${command}: ${error.message}`)))
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`)),
    )
    child.unref()
  })
}

/** The technician's side: checks the address, then asks the host to open it; resolves once opened. */
export function requestUrl(client: ssh2.Client, url: string): Promise<void> {
  checkUrl(url)
  return new Promise((resolve, reject) => {
    client.subsys(URL_SUBSYSTEM, (error, channel) => {
      if (error)
        return reject(
          new UserError('failure', `the end user's computer does not open addresses: ${error.message}`),
        )
      let answer = ''
      channel.on('data', (chunk: Buffer) => (answer = (answer + chunk.toString('utf8')).slice(0, 1000)))
      channel.stderr.resume()
      channel.on('close', () => {
        let reply: { opened?: boolean; error?: string; code?: string } = {}
        try {
          reply = JSON.parse(answer.trim() || '{}') as typeof reply
        } catch {
          // No answer: the session ended.
        }
        if (reply.opened === true) return resolve()
        const codes = ['forbidden', 'usage', 'failure', 'denied'] as const
        const code = codes.find((known) => known === reply.code) ?? 'denied'
        reject(
          new UserError(
            code,
            sanitizeForTerminal(reply.error ?? 'the end user did not open the address', 300),
          ),
        )
      })
      channel.end(`${url}\n`)
    })
  })
}
