/**
 * How the host turns a path a technician sent into the path it acts on. The SFTP server and the
 * transfer service share these, so a path named in one means the same file in the other.
 */
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'

/** The path with every link resolved, as given when it does not exist. */
export async function followed(where: string): Promise<string> {
  return fsp.realpath(where).catch(() => where)
}

/** The folder's links resolved, not the last component's: lstat, remove and rename act on a link itself. */
export async function parentFollowed(where: string): Promise<string> {
  const parent = path.dirname(where)
  if (parent === where) return where
  return path.join(await followed(parent), path.basename(where))
}

/** What ends the name of an upload that is not verified yet. */
export const PARTIAL_SUFFIX = '.rescue-partial'

/** The name under which an upload of `name` grows until it is verified. */
export function partialName(name: string): string {
  return `.${name}${PARTIAL_SUFFIX}`
}

/** The name a partial file stands for: `fix.sh` for `.fix.sh.rescue-partial`; undefined for other names. */
export function unpartialName(name: string): string | undefined {
  return /^\.(.+)\.rescue-partial$/su.exec(name)?.[1]
}

/**
 * `followed` made at once, without a trip through libuv's thread pool (two wake-ups of the event
 * loop): for a request that waits on nothing else, as OpenSSH's sftp-server makes it. The same
 * realpath(3).
 */
export function followedNow(where: string): string {
  try {
    return fs.realpathSync.native(where)
  } catch {
    return where
  }
}

/** `parentFollowed` made at once (see `followedNow`). */
export function parentFollowedNow(where: string): string {
  const parent = path.dirname(where)
  if (parent === where) return where
  return path.join(followedNow(parent), path.basename(where))
}
