/**
 * What the host's SFTP server says on the wire beyond what ssh2 gives a server: the OpenSSH
 * extensions it announces in VERSION (clients such as OpenSSH's sftp, sshfs and paramiko use
 * posix-rename, statvfs and hardlink only when announced), EXTENDED_REPLY packets, and the
 * `ls -l` line of a listing in OpenSSH's own format. ssh2's server sends a fixed VERSION with no
 * extensions and has no method for EXTENDED_REPLY, so both are written here on the SFTP channel,
 * counted against its window as ssh2 counts its own. Imports nothing of rescue.
 */
import fs from 'node:fs'
import type { SFTPWrapper } from 'ssh2'

/** Name and version of each extension, as OpenSSH 9's sftp-server announces them. */
const EXTENSIONS: [string, string][] = [
  ['posix-rename@openssh.com', '1'],
  ['statvfs@openssh.com', '2'],
  ['hardlink@openssh.com', '1'],
  ['fsync@openssh.com', '1'],
  ['users-groups-by-id@openssh.com', '1'],
]
const VERSION = 2
const EXTENDED_REPLY = 201

/** ssh2's internals this relies on (lib/protocol/SFTP.js): the channel's window and its protocol. */
interface SftpInternals {
  outgoing: { id: number; window: number; packetSize: number; state: string }
  _protocol: { channelData(id: number, data: Buffer): void }
  _buffer: Buffer[]
}

const internals = (sftp: SFTPWrapper) => sftp as unknown as SftpInternals

function sshString(text: string | Buffer): Buffer {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text
  const length = Buffer.alloc(4)
  length.writeUInt32BE(bytes.length)
  return Buffer.concat([length, bytes])
}

function packet(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(5)
  header.writeUInt32BE(body.length + 1)
  header[4] = type
  return Buffer.concat([header, body])
}

/**
 * Replaces ssh2's VERSION (version 3, no extensions) with one announcing EXTENSIONS. Call before
 * the client's INIT is read, i.e. right after accepting the channel.
 */
export function announceExtensions(sftp: SFTPWrapper): void {
  const inner = internals(sftp)
  const protocol = inner._protocol
  const version = Buffer.alloc(4)
  version.writeUInt32BE(3)
  const announced = packet(
    VERSION,
    Buffer.concat([version, ...EXTENSIONS.flatMap(([n, v]) => [sshString(n), sshString(v)])]),
  )
  let sent = false
  inner._protocol = new Proxy(protocol, {
    get(target, property) {
      if (property === 'channelData') {
        return (id: number, data: Buffer) => {
          if (!sent && data.length === 9 && data[4] === VERSION && data.readUInt32BE(5) === 3) {
            sent = true
            // ssh2 counted 9 bytes against the window: the rest is counted here.
            inner.outgoing.window -= announced.length - data.length
            return target.channelData(id, announced)
          }
          return target.channelData(id, data)
        }
      }
      const value = Reflect.get(target, property, target) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}

/** Sends EXTENDED_REPLY for request `id`; throws when the channel cannot take it now. */
export function sendExtendedReply(sftp: SFTPWrapper, id: number, data: Buffer): void {
  const inner = internals(sftp)
  const head = Buffer.alloc(4)
  head.writeUInt32BE(id)
  const reply = packet(EXTENDED_REPLY, Buffer.concat([head, data]))
  const out = inner.outgoing
  if (out.state !== 'open') return
  // Small replies only: never more than the window or a packet, never ahead of what ssh2 queued.
  if (inner._buffer.length > 0 || out.window < reply.length || out.packetSize < reply.length) {
    throw new Error('the channel is busy: try again')
  }
  out.window -= reply.length
  inner._protocol.channelData(out.id, reply)
}

/**
 * users-groups-by-id@openssh.com: the account and group names of the ids asked (each list a string
 * of uint32s), as two strings of strings, "" where unknown. OpenSSH's sftp 9 then writes `ls -l`
 * itself with these names.
 */
export function usersGroupsById(data: Buffer): Buffer {
  const { users, groups } = accountNames()
  const ids = (at: number): { list: number[]; next: number } => {
    if (at + 4 > data.length) return { list: [], next: at }
    const length = data.readUInt32BE(at)
    const list: number[] = []
    for (let p = at + 4; p + 4 <= Math.min(at + 4 + length, data.length); p += 4)
      list.push(data.readUInt32BE(p))
    return { list, next: at + 4 + length }
  }
  const uids = ids(0)
  const gids = ids(uids.next)
  const names = (list: number[], map: Map<number, string>) =>
    sshString(Buffer.concat(list.map((id) => sshString(map.get(id) ?? ''))))
  return Buffer.concat([names(uids.list, users), names(gids.list, groups)])
}

/** The SSH strings at the start of an EXTENDED request's data. */
export function readStrings(data: Buffer): string[] {
  const strings: string[] = []
  let at = 0
  while (at + 4 <= data.length) {
    const length = data.readUInt32BE(at)
    if (at + 4 + length > data.length) break
    strings.push(data.toString('utf8', at + 4, at + 4 + length))
    at += 4 + length
  }
  return strings
}

let names: { users: Map<number, string>; groups: Map<number, string> } | undefined

/** Account and group names from /etc/passwd and /etc/group, read once (numbers where missing). */
function accountNames(): { users: Map<number, string>; groups: Map<number, string> } {
  if (names) return names
  const read = (file: string) => {
    const map = new Map<number, string>()
    try {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        const [name, , id] = line.split(':')
        if (name && id !== undefined && /^\d+$/.test(id) && !map.has(Number(id))) map.set(Number(id), name)
      }
    } catch {
      // Not on this system (Windows): numbers it is.
    }
    return map
  }
  names = { users: read('/etc/passwd'), groups: read('/etc/group') }
  return names
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** strmode(3): the type letter, nine permission letters with setuid, setgid and sticky, and a space. */
function modeString(mode: number): string {
  const type =
    { 0o040000: 'd', 0o120000: 'l', 0o020000: 'c', 0o060000: 'b', 0o010000: 'p', 0o140000: 's' }[
      mode & 0o170000
    ] ?? '-'
  const triple = (shift: number, special: boolean, set: string, unset: string) => {
    const bits = (mode >> shift) & 7
    const x = bits & 1 ? (special ? set : 'x') : special ? unset : '-'
    return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${x}`
  }
  return (
    type +
    triple(6, (mode & 0o4000) !== 0, 's', 'S') +
    triple(3, (mode & 0o2000) !== 0, 's', 'S') +
    triple(0, (mode & 0o1000) !== 0, 't', 'T') +
    ' '
  )
}

/** An `ls -l` line exactly as OpenSSH's sftp-server makes it (ls_file in sftp-common.c). */
export function longname(name: string, stats: fs.Stats, now = Date.now()): string {
  const { users, groups } = accountNames()
  const user = users.get(stats.uid) ?? String(stats.uid)
  const group = groups.get(stats.gid) ?? String(stats.gid)
  const mtime = stats.mtime
  const recent = now - (365 * 24 * 60 * 60 * 1000) / 2 < mtime.getTime() && now >= mtime.getTime()
  const day = String(mtime.getDate()).padStart(2, ' ')
  const pad = (n: number) => String(n).padStart(2, '0')
  const date = recent
    ? `${MONTHS[mtime.getMonth()]} ${day} ${pad(mtime.getHours())}:${pad(mtime.getMinutes())}`
    : `${MONTHS[mtime.getMonth()]} ${day}  ${mtime.getFullYear()}`
  return `${modeString(stats.mode)} ${String(stats.nlink).padStart(3)} ${user.padEnd(8)} ${group.padEnd(8)} ${String(stats.size).padStart(8)} ${date} ${name}`
}
