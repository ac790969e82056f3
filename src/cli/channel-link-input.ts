/**
 * Where `rescue host` takes a channel link from: the value of `--channel`, or with `--channel -`
 * the first line of stdin (a link in argv is visible to every local user in `ps`;
 * `RESCUE_CHANNEL_LINK` and stdin are not).
 */
import { parseChannelLink } from '../core/client/channel-link.js'
import { UserError } from '../core/errors.js'

async function firstLineOfStdin(): Promise<string> {
  let text = ''
  for await (const chunk of process.stdin) {
    text += (chunk as Buffer).toString('utf8')
    if (text.includes('\n') || text.length > 4096) break
  }
  return text.split(/\r?\n/)[0] ?? ''
}

/** The gateway and secret of the link given (or piped, for `-`); a usage error for anything else. */
export async function readChannelLink(value: string): Promise<{ server: string; secret: string }> {
  if (value.trim() !== '-') return parseChannelLink(value)
  if (process.stdin.isTTY) {
    throw new UserError(
      'usage',
      '--channel - reads the link from stdin, but stdin is a terminal',
      'pipe it in (rescue host --channel - < link.txt), or set RESCUE_CHANNEL_LINK',
    )
  }
  return parseChannelLink(await firstLineOfStdin())
}
