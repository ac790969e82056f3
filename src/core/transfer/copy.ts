/**
 * `rescue send` and `rescue get` over a live session: files and folder trees through the host's
 * SFTP server, with SHA-256 computed on both ends and compared (see protocol.ts for the host's
 * half). Uploads grow under a partial name on the host and downloads under one here; each is
 * renamed into place only once the hashes agree, and `resume` continues from the part already
 * there after checking that part's hash on both ends. Imports core only.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto'
import fs from 'node:fs'
import fsp, { type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import ssh2, { type Attributes, type SFTPWrapper } from 'ssh2'
import { refusalCodeOfText } from '../consent/refusal.js'
import { UserError } from '../errors.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { formatSize } from '../text/size.js'
import { TransferChannel } from './client.js'
import { partialName } from './host-paths.js'
import { FileStream } from './stream-client.js'
import { writeAll } from './write-all.js'

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp

/**
 * One SFTP request's worth of data: a sixth as many requests (and their JavaScript on every hop)
 * as ssh2's default of 32 KiB for a peer that is not OpenSSH. rescue's host takes packets of up to
 * 256 KiB and answers reads of up to this much (see raiseRequestLimits).
 */
const CHUNK = 192 * 1024
/**
 * Requests in flight at once: about 2 MiB, enough to keep the link busy without a large queue.
 * 32 (6 MiB, within the 8 MiB channel window scripts/bundle.mjs gives ssh2) was tried in issue 12's
 * third round: no faster on this shared machine, and a get cost more CPU per byte in every run.
 */
const IN_FLIGHT = 12
/** Local reads for an upload are this large, then cut into CHUNKs. */
const READ_BLOCK = 1024 * 1024
/**
 * A download is flushed to disk in the background every this many bytes, so the fsync before the
 * rename (which keeps a crash from leaving a file under its final name with bytes never written)
 * has only the tail left: on this machine's disk that sync cost 0.7-0.8 s per GiB at the end.
 */
const SYNC_EVERY = 32 * 1024 * 1024
/**
 * A file with this much left to move goes through `file-stream@rescue` (stream.ts) rather than
 * SFTP READs and WRITEs: a channel of its own costs a round trip, which a small file of a tree
 * would feel more than it gains.
 */
const STREAM_FROM = 1024 * 1024

export interface FileCopied {
  local: string
  remote: string
  bytes: number
  sha256: string
  /** How many bytes were already there and checked when a resume started (0 without one). */
  resumedFrom: number
  /** The bytes this run moved: `bytes` less what a resume found already there. */
  moved: number
  /** True when a resumed tree transfer found the file already there, whole and matching. */
  skipped?: boolean
  /** The transfer's own time: from its first byte, once the end user allowed it, to both hashes agreeing. */
  seconds: number
}

export interface CopyEvents {
  /** A file starts: its name as given (local or remote) and its size. */
  onFile?(name: string, size: number): void
  /** Bytes of the current file acknowledged so far (resumed bytes included). */
  onProgress?(bytes: number): void
  /** Something the technician should know that is not an error. */
  onNotice?(text: string): void
}

export interface CopyOptions extends CopyEvents {
  resume?: boolean
}

/** Turns a local path as the technician typed it into one this process can open. */
type Here = (local: string) => string

/** SFTP and the transfer channel of one live session, for one command's worth of copies. */
export class Transfers {
  private readonly here: Here
  /** False once the host refused `file-stream@rescue` (a rescue from before it): SFTP does it all. */
  private streams = true

  private constructor(
    private readonly client: ssh2.Client,
    private readonly sftp: SFTPWrapper,
    private readonly channel: TransferChannel,
    cwd: string | undefined,
  ) {
    this.here = cwd === undefined ? (local) => local : (local) => path.resolve(cwd, local)
  }

  /**
   * Opens file access on the session's SSH connection. Local paths are taken relative to `cwd`
   * (the folder of the `rescue send` that asked, when `rescue connect` runs the copy for it) and
   * shown as given.
   */
  static async open(client: ssh2.Client, cwd?: string): Promise<Transfers> {
    const channel = await TransferChannel.open(client)
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((error, opened) =>
        error
          ? reject(new UserError('connectionLost', 'the host would not open file access', error.message))
          : resolve(opened),
      ),
    )
    raiseRequestLimits(sftp)
    return new Transfers(client, sftp, channel, cwd)
  }

  close(): void {
    this.channel.close()
    this.sftp.end()
  }

  /** Sends a local file; a `remote` ending in "/" is the folder it goes into, under its own name. */
  async sendFile(local: string, remote: string, options: CopyOptions = {}): Promise<FileCopied> {
    const stats = await localStat(local, this.here)
    if (stats.isDirectory()) throw new UserError('usage', `${show(local)} is a folder`, 'send it with -r')
    // Checked here before the end user is asked for something that could not happen.
    await checkReadable(local, this.here)
    const target = isFolderPath(remote) ? path.posix.join(remote, path.basename(local)) : remote
    return this.upload(local, target, stats, options)
  }

  /** Receives a remote file; a `local` that is a folder (or ends in "/") gets it under its own name. */
  async getFile(remote: string, local: string, options: CopyOptions = {}): Promise<FileCopied> {
    const target = (await isLocalFolder(local, this.here))
      ? path.join(local, path.posix.basename(remote))
      : local
    // Checked here before the end user is asked for something that could not land.
    await checkLocalTarget(target, this.here)
    return this.download(remote, target, options)
  }

  /**
   * Sends a local folder and everything in it, after one prompt for the whole of it. With a
   * `remote` ending in "/" the folder goes into it under its own name; otherwise `remote` is the
   * copy. Symbolic links and special files are left out, and said so.
   */
  async sendTree(local: string, remote: string, options: CopyOptions = {}): Promise<FileCopied[]> {
    const stats = await localStat(local, this.here)
    if (!stats.isDirectory()) return [await this.sendFile(local, remote, options)]
    const root = isFolderPath(remote) ? path.posix.join(remote, path.basename(this.here(local))) : remote
    const tree = await walkLocal(this.here(local), options)
    const bytes = tree.files.reduce((sum, file) => sum + file.size, 0)
    await this.channel.plan('to-host', root, { files: tree.files.length, bytes })
    for (const folder of ['', ...tree.folders]) await this.makeRemoteFolder(path.posix.join(root, folder))
    const copied: FileCopied[] = []
    for (const file of tree.files) {
      const from = path.join(local, ...file.relative.split('/'))
      const to = path.posix.join(root, file.relative)
      const kept = options.resume ? await this.keptOnHost(from, to, file.size) : undefined
      copied.push(kept ?? (await this.upload(from, to, await localStat(from, this.here), options)))
    }
    return copied
  }

  /** Receives a remote folder and everything in it, after one prompt for the whole of it. */
  async getTree(remote: string, local: string, options: CopyOptions = {}): Promise<FileCopied[]> {
    const root = (await isLocalFolder(local, this.here))
      ? path.join(local, path.posix.basename(remote))
      : local
    await checkLocalTree(root, this.here)
    await this.channel.plan('from-host', remote)
    const tree = await this.walkRemote(remote, options)
    await fsp.mkdir(this.here(root), { recursive: true })
    for (const folder of tree.folders)
      await fsp.mkdir(this.here(path.join(root, ...folder.split('/'))), { recursive: true })
    const copied: FileCopied[] = []
    for (const file of tree.files) {
      const from = path.posix.join(remote, file.relative)
      const to = path.join(root, ...file.relative.split('/'))
      const kept = options.resume ? await this.keptHere(from, to, file.size) : undefined
      copied.push(kept ?? (await this.download(from, to, options)))
    }
    return copied
  }

  // --- One file each way -------------------------------------------------------------------

  private async upload(local: string, target: string, stats: fs.Stats, options: CopyOptions) {
    const size = stats.size
    options.onFile?.(local, size)
    const partial = path.posix.join(path.posix.dirname(target), partialName(path.posix.basename(target)))
    const attrs = { size, mode: stats.mode & 0o777 }
    let hash = createHash('sha256')
    let start = 0
    let handle: Buffer
    if (options.resume) {
      handle = await this.open(partial, OPEN_MODE.WRITE | OPEN_MODE.CREAT, attrs)
      const there = (await this.call<Attributes>((done) => this.sftp.fstat(handle, done))).size
      ;({ start, hash } = await this.checkPrefix(
        there,
        size,
        this.here(local),
        () => this.channel.hash(partial, there),
        options,
      ))
      if (start === 0 && there > 0) await this.call((done) => this.sftp.fsetstat(handle, { size: 0 }, done))
    } else {
      handle = await this.open(target, OPEN_MODE.WRITE | OPEN_MODE.CREAT | OPEN_MODE.TRUNC, attrs)
    }
    // The end user has allowed it (the open above waited for them): the transfer's own time starts.
    const started = performance.now()
    options.onProgress?.(start)

    const file = await fsp.open(this.here(local), 'r')
    const stream = await this.fileStream(size - start).catch(async (error: unknown) => {
      await file.close()
      throw error
    })
    try {
      if (stream) {
        let offset = start
        await stream.write(
          handle,
          start,
          size - start,
          async (block) => {
            const { bytesRead } = await file.read(block, 0, block.length, offset)
            if (bytesRead === 0)
              throw new UserError('failure', `${show(local)} got shorter while it was being sent`)
            hash.update(block.subarray(0, bytesRead))
            offset += bytesRead
            return bytesRead
          },
          (written) => options.onProgress?.(start + written),
        )
      } else {
        // One block for the whole file: ssh2's sftp.write copies the bytes into its request before it
        // returns, so the block is free again once its requests are sent (fewer buffers for V8 to collect).
        const reused = Buffer.allocUnsafe(Math.min(READ_BLOCK, Math.max(size - start, 1)))
        await pump(start, size, options, async (offset, write) => {
          const block = reused.subarray(0, Math.min(reused.length, size - offset))
          const { bytesRead } = await file.read(block, 0, block.length, offset)
          if (bytesRead === 0)
            throw new UserError('failure', `${show(local)} got shorter while it was being sent`)
          hash.update(block.subarray(0, bytesRead))
          for (let at = 0; at < bytesRead; at += CHUNK) {
            const chunk = block.subarray(at, Math.min(at + CHUNK, bytesRead))
            await write(chunk.length, () =>
              this.call((done) => this.sftp.write(handle, chunk, 0, chunk.length, offset + at, done)),
            )
          }
          return bytesRead
        })
      }
    } finally {
      await file.close()
    }

    const sha256 = hash.digest('hex')
    // The host checks this before it renames the upload into place, and refuses the file if it differs.
    await this.channel.expect(target, size, sha256)
    await this.call((done) => this.sftp.close(handle, done)).catch((error: unknown) => {
      throw new UserError('failure', `the host did not keep ${show(target)}: ${statusText(error)}`)
    })
    const host = await this.channel.result(target)
    if (!host.complete || host.sha256 !== sha256 || host.bytes !== size) {
      throw mismatch(target, { bytes: size, sha256 }, host)
    }
    return {
      local,
      remote: target,
      bytes: size,
      sha256,
      resumedFrom: start,
      moved: size - start,
      seconds: since(started),
    }
  }

  private async download(remote: string, target: string, options: CopyOptions): Promise<FileCopied> {
    const handle = await this.open(remote, OPEN_MODE.READ)
    let attrs: Attributes
    try {
      attrs = await this.call<Attributes>((done) => this.sftp.fstat(handle, done))
    } catch (error) {
      await this.call((done) => this.sftp.close(handle, done)).catch(() => {})
      throw error
    }
    const size = attrs.size
    options.onFile?.(remote, size)
    const partial = this.here(path.join(path.dirname(target), partialName(path.basename(target))))
    let hash = createHash('sha256')
    let start = 0
    if (options.resume) {
      const there = (await fsp.stat(partial).catch(() => undefined))?.size ?? 0
      ;({ start, hash } = await this.checkPrefix(
        there,
        size,
        partial,
        () => this.channel.hash(remote, there),
        options,
      ))
    }
    // The end user has allowed it (the open above waited for them): the transfer's own time starts.
    const started = performance.now()
    options.onProgress?.(start)

    const out = await fsp.open(partial, start > 0 ? 'r+' : 'w', 0o600)
    try {
      if (start === 0) await out.truncate(0)
      const stream = await this.fileStream(size - start)
      if (stream) await receiveStream(stream, handle, out, start, size, hash, options)
      else await this.receive(handle, out, start, size, hash, remote, options)
      await out.sync()
    } finally {
      await out.close()
      await this.call((done) => this.sftp.close(handle, done)).catch(() => {})
    }

    const sha256 = hash.digest('hex')
    let host = await this.channel.result(remote)
    // After a resume the host sent only the rest: it hashes the whole file to compare.
    if (!host.complete) host = { ...(await this.channel.hash(remote, size)), complete: true }
    if (host.sha256 !== sha256 || host.bytes !== size) {
      await fsp.rm(partial, { force: true })
      throw mismatch(remote, { bytes: size, sha256 }, host)
    }
    await fsp.chmod(partial, (attrs.mode ?? 0o644) & 0o777)
    await fsp.rename(partial, this.here(target))
    return {
      local: target,
      remote,
      bytes: size,
      sha256,
      resumedFrom: start,
      moved: size - start,
      seconds: since(started),
    }
  }

  /** Reads [start, size) of a remote file into `out`, many reads in flight, written and hashed in order. */
  private async receive(
    handle: Buffer,
    out: FileHandle,
    start: number,
    size: number,
    hash: Hash,
    remote: string,
    options: CopyOptions,
  ): Promise<void> {
    const arrived = new Map<number, { piece: Buffer; buffer: Buffer }>()
    // Buffers whose bytes are written and hashed, for the next reads (fewer for V8 to collect).
    const spare: Buffer[] = []
    let written = start
    let flushing = Promise.resolve()
    const syncs: Promise<void>[] = []
    let syncFailure: unknown
    let syncedTo = start
    const flush = () => {
      flushing = flushing.then(async () => {
        for (let next = arrived.get(written); next; next = arrived.get(written)) {
          const { piece, buffer } = next
          arrived.delete(written)
          await out.write(piece, 0, piece.length, written)
          hash.update(piece)
          written += piece.length
          spare.push(buffer)
          options.onProgress?.(written)
          if (written - syncedTo >= SYNC_EVERY) {
            syncedTo = written
            syncs.push(out.datasync().catch((error: unknown) => void (syncFailure ??= error)))
          }
        }
      })
      return flushing
    }
    const readAt = async (offset: number, length: number): Promise<void> => {
      const buffer = spare.pop() ?? Buffer.allocUnsafe(CHUNK)
      const bytes = await this.call<number>((done) => this.sftp.read(handle, buffer, 0, length, offset, done))
      if (bytes === 0)
        throw new UserError('failure', `${show(remote)} got shorter on the host while it was copied`)
      arrived.set(offset, { piece: buffer.subarray(0, bytes), buffer })
      // SFTP allows short reads: ask again for the rest of this piece.
      if (bytes < length) await readAt(offset + bytes, length - bytes)
    }
    await pump(start, size, {}, async (offset, request) => {
      const length = Math.min(CHUNK, size - offset)
      await request(length, () => readAt(offset, length).then(flush))
      return length
    })
    await flush()
    await Promise.all(syncs)
    if (syncFailure !== undefined) throw syncFailure
    if (written !== size)
      throw new UserError('failure', `only ${written} of ${size} bytes of ${show(remote)} arrived`)
  }

  /** A `file-stream@rescue` channel for `bytes` to move, unless SFTP should move them (see STREAM_FROM). */
  private async fileStream(bytes: number): Promise<FileStream | undefined> {
    if (!this.streams || bytes < STREAM_FROM) return undefined
    const stream = await FileStream.open(this.client)
    // Refused once, refused for good: an older host would log the refusal for every file.
    if (!stream) this.streams = false
    return stream
  }

  // --- Resumes -----------------------------------------------------------------------------

  /**
   * How much of a partial file (`there` bytes) to keep: all of it when its hash here and on the
   * host agree, else nothing; and the running hash of what is kept.
   */
  private async checkPrefix(
    there: number,
    size: number,
    localFile: string,
    hostHash: () => Promise<{ bytes: number; sha256: string }>,
    options: CopyOptions,
  ): Promise<{ start: number; hash: Hash }> {
    const fresh = { start: 0, hash: createHash('sha256') }
    if (there === 0) return fresh
    if (there > size) {
      options.onNotice?.(`the partial copy is larger than the file (${there} > ${size} bytes): starting over`)
      return fresh
    }
    const prefix = createHash('sha256')
    await hashLocal(localFile, there, prefix)
    const host = await hostHash()
    if (host.bytes !== there || host.sha256 !== prefix.copy().digest('hex')) {
      options.onNotice?.(`the ${there} bytes already there do not match: starting over`)
      return fresh
    }
    options.onNotice?.(`resuming after ${formatSize(there)} already there (SHA-256 checked on both ends)`)
    return { start: there, hash: prefix }
  }

  /** In a resumed tree upload: the file is on the host already, whole and matching. */
  private async keptOnHost(local: string, remote: string, size: number): Promise<FileCopied | undefined> {
    const there = await this.call<Attributes>((done) => this.sftp.stat(remote, done)).catch(() => undefined)
    return there?.size === size ? this.sameOnBothEnds(local, remote, size) : undefined
  }

  /** In a resumed tree download: the file is here already, whole and matching. */
  private async keptHere(remote: string, local: string, size: number): Promise<FileCopied | undefined> {
    const there = await fsp.stat(this.here(local)).catch(() => undefined)
    return there?.isFile() && there.size === size ? this.sameOnBothEnds(local, remote, size) : undefined
  }

  /** The file as skipped when its SHA-256 here and on the host agree. */
  private async sameOnBothEnds(local: string, remote: string, size: number): Promise<FileCopied | undefined> {
    const mine = createHash('sha256')
    await hashLocal(this.here(local), size, mine)
    const sha256 = mine.digest('hex')
    const host = await this.channel.hash(remote, size).catch(() => undefined)
    if (host?.sha256 !== sha256) return undefined
    return { local, remote, bytes: size, sha256, resumedFrom: size, moved: 0, skipped: true, seconds: 0 }
  }

  // --- Folders -----------------------------------------------------------------------------

  private async makeRemoteFolder(folder: string): Promise<void> {
    try {
      await this.call((done) => this.sftp.mkdir(folder, {}, done))
    } catch (error) {
      const there = await this.call<ssh2.Stats>((done) => this.sftp.stat(folder, done)).catch(() => undefined)
      if (!there?.isDirectory()) throw sftpError(error, folder, 'make')
    }
  }

  private async walkRemote(root: string, events: CopyEvents): Promise<Tree> {
    const tree: Tree = { folders: [], files: [] }
    const pending = ['']
    while (pending.length > 0) {
      const relative = pending.shift()!
      const folder = path.posix.join(root, relative)
      const listed = await this.call<{ filename: string; attrs: Attributes }[]>((done) =>
        this.sftp.readdir(folder, done),
      ).catch((error: unknown) => {
        throw sftpError(error, folder, 'list')
      })
      for (const entry of listed.sort((a, b) => a.filename.localeCompare(b.filename))) {
        if (entry.filename === '.' || entry.filename === '..' || entry.filename.includes('/')) continue
        const child = relative ? `${relative}/${entry.filename}` : entry.filename
        const type = entry.attrs.mode & fs.constants.S_IFMT
        if (type === fs.constants.S_IFDIR) {
          tree.folders.push(child)
          pending.push(child)
        } else if (type === fs.constants.S_IFREG) tree.files.push({ relative: child, size: entry.attrs.size })
        else events.onNotice?.(`left out ${show(child)}: not a regular file or folder`)
      }
    }
    return tree
  }

  // --- Plumbing ----------------------------------------------------------------------------

  private open(where: string, flags: number, attrs?: Partial<Attributes>): Promise<Buffer> {
    return this.call<Buffer>((done) => this.sftp.open(where, flags, attrs ?? {}, done)).catch(
      (error: unknown) => {
        throw sftpError(error, where, flags & OPEN_MODE.WRITE ? 'write' : 'read')
      },
    )
  }

  private call<T = void>(start: (done: (error?: Error | null, value?: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      try {
        start((error, value) => (error ? reject(error) : resolve(value as T)))
      } catch (error) {
        // ssh2 throws when the channel is already gone.
        reject(new UserError('connectionLost', `the session closed: ${statusText(error)}`))
      }
    })
  }
}

/**
 * Tells ssh2 it may send CHUNK-sized reads and writes. ssh2 raises these same limits itself when an
 * OpenSSH server advertises `limits@openssh.com`; its server side (rescue's host) cannot advertise,
 * though it accepts packets of 256 KiB. Without this, ssh2 splits each larger request in two and
 * sends the halves one after the other, so writes land out of order.
 */
function raiseRequestLimits(sftp: SFTPWrapper): void {
  const limits = sftp as unknown as { _maxReadLen?: number; _maxWriteLen?: number }
  if (typeof limits._maxWriteLen === 'number') limits._maxWriteLen = Math.max(limits._maxWriteLen, CHUNK)
  if (typeof limits._maxReadLen === 'number') limits._maxReadLen = Math.max(limits._maxReadLen, CHUNK)
}

interface Tree {
  /** Relative paths with "/" between names, parents before children. */
  folders: string[]
  files: { relative: string; size: number }[]
}

/**
 * Moves [start, size) in steps, at most IN_FLIGHT requests waiting at once. `step(offset, request)`
 * covers some bytes from `offset` and returns how many, calling `request(bytes, send)` for each
 * request it makes; the first failure stops everything.
 */
async function pump(
  start: number,
  size: number,
  events: CopyEvents,
  step: (
    offset: number,
    request: (bytes: number, send: () => Promise<unknown>) => Promise<void>,
  ) => Promise<number>,
): Promise<void> {
  const waiting = new Set<Promise<void>>()
  let failure: unknown
  let acknowledged = start
  const request = async (bytes: number, send: () => Promise<unknown>) => {
    if (failure !== undefined) throw failure
    const sent: Promise<void> = send().then(
      () => {
        acknowledged += bytes
        events.onProgress?.(acknowledged)
      },
      (error: unknown) => {
        failure ??= error
      },
    )
    waiting.add(sent)
    void sent.finally(() => waiting.delete(sent))
    if (waiting.size >= IN_FLIGHT) await Promise.race(waiting)
  }
  for (let offset = start; offset < size && failure === undefined;) {
    offset += await step(offset, request)
  }
  await Promise.all(waiting)
  if (failure !== undefined) throw failure
}

/**
 * Receives [start, size) of an open download through `stream` into `out`, hashed in order, synced
 * in the background every SYNC_EVERY bytes as `receive` does.
 */
async function receiveStream(
  stream: FileStream,
  handle: Buffer,
  out: FileHandle,
  start: number,
  size: number,
  hash: Hash,
  options: CopyOptions,
): Promise<void> {
  let written = start
  let syncedTo = start
  const syncs: Promise<void>[] = []
  let syncFailure: unknown
  await stream.read(handle, start, size - start, async (chunks) => {
    const writing = writeAll(out, chunks, written)
    for (const chunk of chunks) {
      hash.update(chunk)
      written += chunk.length
    }
    await writing
    options.onProgress?.(written)
    if (written - syncedTo >= SYNC_EVERY) {
      syncedTo = written
      syncs.push(out.datasync().catch((error: unknown) => void (syncFailure ??= error)))
    }
  })
  await Promise.all(syncs)
  if (syncFailure !== undefined) throw syncFailure
}

async function walkLocal(root: string, events: CopyEvents): Promise<Tree> {
  const tree: Tree = { folders: [], files: [] }
  const pending = ['']
  while (pending.length > 0) {
    const relative = pending.shift()!
    const folder = path.join(root, ...relative.split('/').filter(Boolean))
    const entries = await fsp.readdir(folder, { withFileTypes: true }).catch((error: unknown) => {
      throw new UserError('usage', `cannot read the folder ${show(folder)} here: ${reason(error)}`)
    })
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const child = relative ? `${relative}/${entry.name}` : entry.name
      if (entry.isDirectory()) {
        tree.folders.push(child)
        pending.push(child)
      } else if (entry.isFile()) {
        const size = (await fsp.stat(path.join(root, ...child.split('/')))).size
        tree.files.push({ relative: child, size })
      } else events.onNotice?.(`left out ${show(child)}: not a regular file or folder`)
    }
  }
  return tree
}

async function hashLocal(file: string, length: number, into: Hash): Promise<void> {
  if (length === 0) return
  for await (const chunk of fs.createReadStream(file, { start: 0, end: length - 1 }))
    into.update(chunk as Buffer)
}

async function localStat(local: string, here: Here): Promise<fs.Stats> {
  try {
    return await fsp.stat(here(local))
  } catch {
    throw new UserError(
      'usage',
      `no such file or folder here: ${show(local)}`,
      'check the name; rescue send takes a file on this computer, then where it goes on the host',
    )
  }
}

async function checkReadable(local: string, here: Here): Promise<void> {
  try {
    await (await fsp.open(here(local), 'r')).close()
  } catch (error) {
    throw new UserError('usage', `cannot read ${show(local)} here: ${reason(error)}`)
  }
}

/** A download's target: its folder is here and takes new files, and it is not a folder itself. */
async function checkLocalTarget(target: string, here: Here): Promise<void> {
  await checkWritableFolder(path.dirname(target), here)
  if ((await fsp.stat(here(target)).catch(() => undefined))?.isDirectory()) {
    throw new UserError('usage', `${show(target)} is a folder here`, 'get a folder with -r')
  }
}

/** A tree download's root: made with its missing parents, so the nearest folder that is there must take them. */
async function checkLocalTree(root: string, here: Here): Promise<void> {
  let folder = root
  for (;;) {
    const stats = await fsp.stat(here(folder)).catch(() => undefined)
    if (stats) return checkWritableFolder(folder, here)
    const parent = path.dirname(folder)
    if (parent === folder) return checkWritableFolder(folder, here)
    folder = parent
  }
}

async function checkWritableFolder(folder: string, here: Here): Promise<void> {
  const stats = await fsp.stat(here(folder)).catch(() => undefined)
  if (!stats) {
    throw new UserError(
      'usage',
      `no such folder here: ${show(folder)}`,
      `make it first (mkdir -p ${show(folder)}), or name a folder that exists`,
    )
  }
  if (!stats.isDirectory()) {
    throw new UserError('usage', `not a folder here: ${show(folder)}`, 'name a folder to put the file in')
  }
  // A file made and removed at once says what access() cannot: /proc and read-only mounts refuse even root.
  const probe = path.join(here(folder), `.rescue-probe-${randomBytes(6).toString('hex')}`)
  try {
    await (await fsp.open(probe, 'wx', 0o600)).close()
  } catch (error) {
    throw new UserError(
      'usage',
      `cannot write in ${show(folder)} here: ${reason(error)}`,
      'name a folder you can write to',
    )
  }
  await fsp.rm(probe, { force: true })
}

function reason(error: unknown): string {
  switch ((error as { code?: unknown }).code) {
    case 'ENOENT':
      return 'it takes no new files'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EROFS':
      return 'read-only file system'
    case 'ENOSPC':
      return 'the disk is full'
    case 'EISDIR':
      return 'it is a folder'
    default:
      return statusText(error)
  }
}

async function isLocalFolder(local: string, here: Here): Promise<boolean> {
  if (local.endsWith('/') || local.endsWith(path.sep)) return true
  return (await fsp.stat(here(local)).catch(() => undefined))?.isDirectory() === true
}

/** A remote path that names a folder to put things into rather than the copy itself. */
function isFolderPath(remote: string): boolean {
  return remote.endsWith('/') || remote === '.' || remote === '~' || remote === ''
}

function mismatch(
  what: string,
  mine: { bytes: number; sha256: string },
  host: { bytes: number; sha256: string; complete?: boolean },
): UserError {
  return new UserError(
    'failure',
    `SHA-256 mismatch for ${show(what)}: ${mine.sha256} (${mine.bytes} bytes) here, ${host.sha256 || 'nothing'} (${host.bytes} bytes) on the host`,
    'the file was not kept; send it again',
  )
}

/**
 * An SFTP refusal as the technician should read it; the end user's "no" is exit status 15. A
 * missing file is only "no such file" when its folder is there: writing a file or making a folder
 * fails only for a missing folder, and the host says "no such folder" when that is why a read failed.
 */
function sftpError(error: unknown, where: string, doing: 'read' | 'write' | 'make' | 'list'): UserError {
  const code = (error as { code?: unknown }).code
  const refused = code === STATUS_CODE.PERMISSION_DENIED ? refusalCodeOfText(statusText(error)) : undefined
  if (refused) return new UserError(refused, `${statusText(error)}: ${show(where)}`)
  if (code === STATUS_CODE.NO_SUCH_FILE) {
    const folderMissing =
      doing === 'write' || doing === 'make' || statusText(error).startsWith('no such folder')
    if (doing === 'list') return new UserError('failure', `no such folder on the host: ${show(where)}`)
    if (folderMissing) {
      return new UserError(
        'failure',
        `no such folder on the host: ${show(path.posix.dirname(where))}`,
        'name a folder that is there (a REMOTE ending in / is a folder)',
      )
    }
    return new UserError('failure', `no such file on the host: ${show(where)}`)
  }
  return new UserError('failure', `${show(where)}: ${statusText(error)}`)
}

function statusText(error: unknown): string {
  return show(error instanceof Error ? error.message : String(error), 500)
}

function show(text: string, maxLength = 300): string {
  return sanitizeForTerminal(text, maxLength)
}

function since(started: number): number {
  return Math.round(performance.now() - started) / 1000
}
