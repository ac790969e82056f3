/**
 * The host's SFTP server: what a technician's `send`, `get` and file browsing reach through the
 * `sftp` subsystem of the session's SSH connection. It serves the file system with the end user's
 * own rights, and nothing on a path happens before the end user said yes:
 *
 * - reading a file (OPEN for reading) asks `files.receive`, with the real path (links followed)
 *   and the size;
 * - writing a file (OPEN for writing) asks `files.send`, with the path, and the size when the
 *   client announced it as `attrs.size` in OPEN ("a file" otherwise);
 * - looking (OPENDIR, STAT, LSTAT, REALPATH, READLINK) asks `files.browse`. REALPATH of "", "." or
 *   the home folder is answered unasked, so a client can start;
 * - changing (MKDIR, RMDIR, REMOVE, RENAME, SETSTAT, FSETSTAT of a handle that is not an upload,
 *   SYMLINK, and OpenSSH's posix-rename and hardlink extensions) asks `files.modify`, naming the
 *   path and the change ("change the mode of /x to 0666", "..., replacing the file there"). Two
 *   exceptions, both parts of an upload the end user allowed: a folder made inside a folder upload
 *   (`plan` on `transfer@rescue`) is that upload's `files.send`, and the mode and times of a file or
 *   folder this session made (scp -p) are set unasked while nobody else changed it. A rename onto a
 *   `.rescue-partial` name is refused: those are rescue's own. statvfs@openssh.com (`df`) is
 *   looking: `files.browse`. users-groups-by-id@openssh.com (owner names for `ls -l`) asks nothing.
 *
 * As sshd does for sshfs: a request on a path waits for an OPEN for writing or a CLOSE of an upload
 * of that path still running (sshfs sends OPEN and LSTAT together); STAT and SETSTAT of a file an
 * upload on this channel is writing meet that upload; a RENAME of it waits for its CLOSE a while.
 *
 * What is done on an open handle (READ, WRITE, FSTAT, READDIR, CLOSE, FSETSTAT of an upload) rides
 * on the answer given when it was opened. Each distinct prompt (permission, summary, detail) is
 * asked once per SFTP channel and its answer, yes or no, holds for the rest of that channel; grants
 * "for this session" are the consent broker's business. Paths and names in prompts, activity and
 * status messages are sanitized for the terminal; a path too long to show in full is refused unasked.
 *
 * Uploads never write to their target. Data goes to `.<name>.rescue-partial` in the same folder
 * (created 0600, exclusively, without following links). At CLOSE the partial is verified (every
 * write succeeded, no gap, the announced size if any), synced when 1 MiB or more, hashed (SHA-256 as the data streams
 * in when writes come in order, by re-reading the file otherwise), given its mode (set by the
 * client, else the replaced file's, else 0644) and renamed onto the target. A failed check, or a
 * channel that ends without CLOSE, leaves the partial in place for a resume and reports
 * `complete: false` (an empty partial is removed: there is nothing to resume).
 *
 * Opening the target's own name starts over: with TRUNC (what `fastPut` and `put` do) from nothing,
 * without it from a copy of the current file (OpenSSH's `reput`); either way an old partial is
 * discarded. That copy holds the end user's bytes, so it grows under a name of its own
 * (`.<name>.<random>.rescue-edit`), is removed rather than kept when the upload fails, and its hash
 * is told to nobody who was not let read the file: a partial only ever holds the technician's own
 * bytes, which is why `transfer@rescue` may hash it for a resume. To resume an
 * interrupted upload of `<dir>/<name>`, a client:
 * 1. opens `<dir>/.<name>.rescue-partial` for writing without TRUNC: flags `a`
 *    (WRITE|CREAT|APPEND), or WRITE|CREAT; optionally with `attrs.size` = the whole file's size,
 *    which CLOSE then checks (the prompt asks `files.send` for `<dir>/<name>`);
 * 2. FSTATs that handle to learn how many bytes arrived, N (STAT of the partial's path works too
 *    but asks `files.browse`);
 * 3. writes its local bytes from offset N to the end (with APPEND, offsets are ignored and every
 *    write lands at the end of the partial);
 * 4. CLOSEs the handle: the partial is verified, hashed from its first byte and renamed to
 *    `<dir>/<name>`.
 * Reading and writing through one handle (READ|WRITE, as sshfs opens for `sed -i`) is an upload
 * that READ reads back; when it starts from the end user's file, `files.receive` is asked too.
 *
 * Use it from `session.on('sftp', (accept) => serveSftp(accept(), ...))`: ssh2 gives an SFTP
 * server only there, not through the generic 'subsystem' event. Imports core only.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto'
import fs from 'node:fs'
import fsp, { type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import ssh2, { type Attributes, type SFTPWrapper } from 'ssh2'
import { MAX_DETAIL_LENGTH, refusalMessage, type ConsentOutcome, type FileScope } from '../consent/index.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { formatSize } from '../text/size.js'
import {
  followed,
  followedNow,
  parentFollowed,
  parentFollowedNow,
  PARTIAL_SUFFIX,
  partialName,
  unpartialName,
} from '../transfer/host-paths.js'
import type { TransferLedger } from '../transfer/ledger.js'
import type { OpenFiles, StreamableFile } from '../transfer/stream.js'
import { writeAll, writeAllNow } from '../transfer/write-all.js'
import {
  announceExtensions,
  longname,
  readStrings,
  sendExtendedReply,
  usersGroupsById,
} from './sftp-extensions.js'

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp

export type FilePermission = 'files.send' | 'files.receive' | 'files.browse' | 'files.modify'

export interface SftpConsent {
  /**
   * Asks the end user; resolves true when allowed. `summary` is the end of a sentence, e.g. "put a
   * file on this computer: fix.sh (1.2 KiB) into /tmp"; `detail` is the full path. Both are
   * sanitized already. `withdrawn` aborts when the SFTP channel closes while the prompt waits.
   * `scope` is the real path acted on and the folder a "for this session in this folder" grant covers.
   */
  ask(
    permission: FilePermission,
    summary: string,
    detail: string,
    withdrawn: AbortSignal | undefined,
    scope: FileScope | undefined,
  ): Promise<boolean | ConsentOutcome>
}

/**
 * One file that went through SFTP, reported when its handle closes or the channel ends. `bytes`
 * and `sha256` describe the file's first `bytes` bytes: to the host, the file (or the partial) as it
 * is on disk; from the host, what was sent in order from the start (all of it when `complete`).
 */
export type SftpActivity = SftpTransfer | SftpProgress

export interface SftpTransfer {
  event: 'file-transfer'
  direction: 'to-host' | 'from-host'
  /** The target's absolute path, sanitized. */
  path: string
  bytes: number
  sha256: string
  /** To the host: renamed into place. From the host: every byte of the file was read. */
  complete: boolean
  /**
   * A resumed download: where it started. `bytes - from` moved now; `bytes` and `sha256` are the
   * whole file's, which the technician's copy is once its first `from` bytes are the file's own.
   */
  from?: number
}

/** A file on its way, at most twice a second per file. */
export interface SftpProgress {
  event: 'file-progress'
  direction: 'to-host' | 'from-host'
  path: string
  bytes: number
  /** The whole file's size, when known (announced for uploads). */
  total?: number
}

export interface SftpServeOptions {
  consent: SftpConsent
  onActivity(activity: SftpActivity): void
  /** Where relative paths start: the end user's home folder. */
  home: string
  /** This session's record of opened files, expected hashes and outcomes, shared with `transfer@rescue`. */
  ledger?: TransferLedger
  /** This connection's open files, for `file-stream@rescue` (transfer/stream.ts); it gives out the handles. */
  openFiles?: OpenFiles
}

const PROGRESS_INTERVAL_MS = 500
/** Uploads this large or larger are synced to disk before they are renamed into place. */
const SYNC_FROM_BYTES = 1024 * 1024
/** How long a rename of a file this channel is still writing waits for its CLOSE. */
const UPLOAD_CLOSE_WAIT_MS = 5000
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())

/** Serves one SFTP channel until it closes; every request is answered, none throws. */
export function serveSftp(sftp: SFTPWrapper, options: SftpServeOptions): void {
  new SftpSession(sftp, options).start()
}

export { PARTIAL_SUFFIX, partialName } from '../transfer/host-paths.js'
export { formatSize } from '../text/size.js'

/** The status message a client gets when the end user says no. */
export const DENIED_MESSAGE = 'denied by the end user'
// One READ answers at most this much; clients ask again for the rest (SFTP allows short reads).
// rescue's own client asks for 192 KiB at a time; OpenSSH's and ssh2's clients take answers up to 256 KiB.
const MAX_READ = 192 * 1024
/**
 * Reads and writes that end below this offset are made at once (pread/pwrite on the event loop's
 * thread), as are the metadata calls of one small operation (stat, realpath, fstat, chmod, utimes):
 * each trip through libuv's thread pool costs two wake-ups of the event loop, and a small file's
 * upload made ten. OpenSSH's sftp-server makes every call so. Past it, a large file's reads and
 * writes stay in the pool, where they overlap with SSH's crypto on this thread.
 */
const AT_ONCE_BYTES = 64 * 1024
/** READ buffers kept for reuse, more than a client keeps reads in flight (rescue's: 12). */
const SPARE_READS = 32
const spareReads: Buffer[] = []
const MAX_HANDLES = 64
const DIRECTORY_BATCH = 64
const DEFAULT_FILE_MODE = 0o644
const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, S_IFMT } = fs.constants
/** What ends the name of the copy an upload that starts from the file already there works on. */
const EDIT_SUFFIX = '.rescue-edit'
// Not defined on Windows, where they have no equivalent.
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0

class SftpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

/** Byte ranges [start, end) seen so far, merged and in order. */
class Ranges {
  private list: [number, number][] = []

  add(start: number, end: number): void {
    if (end <= start) return
    const last = this.list[this.list.length - 1]
    if (!last || start > last[1]) {
      this.list.push([start, end])
    } else if (start >= last[0]) {
      // Sequential data (the usual case) only ever extends the last range.
      last[1] = Math.max(last[1], end)
    } else {
      let merged: [number, number] = [start, end]
      const kept: [number, number][] = []
      for (const range of this.list) {
        if (range[1] < merged[0] || range[0] > merged[1]) kept.push(range)
        else merged = [Math.min(range[0], merged[0]), Math.max(range[1], merged[1])]
      }
      kept.push(merged)
      this.list = kept.sort((a, b) => a[0] - b[0])
    }
  }

  truncate(size: number): void {
    this.list = this.list
      .filter(([start]) => start < size)
      .map(([start, end]): [number, number] => [start, Math.min(end, size)])
  }

  /** Where the first range starts; undefined when nothing was seen. */
  first(): number | undefined {
    return this.list[0]?.[0]
  }

  /** The first offset in [from, size) never seen; undefined when all of it was. */
  firstGapFrom(from: number, size: number): number | undefined {
    if (size <= from) return undefined
    const range = this.list.find(([start, end]) => start <= from && end > from)
    if (!range) return from
    return range[1] >= size ? undefined : range[1]
  }

  /** The first offset below `size` that was never seen; undefined when all of [0, size) was. */
  firstGap(size: number): number | undefined {
    if (size === 0) return undefined
    const first = this.list[0]
    if (!first || first[0] > 0) return 0
    return first[1] >= size ? undefined : first[1]
  }
}

interface Upload {
  kind: 'upload'
  file: FileHandle
  /** Opened for reading too (READ|WRITE, as sshfs opens a file for `sed -i`): READ reads it back. */
  readable: boolean
  /** The mode the target has until the client sets one: the replaced file's, else the default. */
  baseMode: number
  /** Resolves once the upload is closed or abandoned, its file in place or not. */
  done: Promise<void>
  settle(): void
  target: string
  /** The target's partial name: one upload at a time per target on this channel. */
  partial: string
  /** The file the data goes to: the partial, or for an upload that began from the file there, a copy. */
  writing: string
  /** True when `writing` began as a copy of the end user's file: their bytes are in it. */
  mixed: boolean
  /** The target, sanitized: for activity and messages. */
  shown: string
  /** SHA-256 of bytes [0, hashed), valid while `inOrder`. */
  hash: Hash
  hashed: number
  inOrder: boolean
  append: boolean
  /** The partial's size as the writes so far make it. */
  end: number
  written: Ranges
  /** The whole file's size, when the client announced it at OPEN. */
  announced?: number
  mode?: number
  times?: { atime: number; mtime: number }
  /** Why this upload cannot be trusted: a write failed. */
  failure?: string
  progressAt: number
  queue: Promise<void>
  /** WRITEs queued after the last other operation and not yet started: they go to disk together. */
  batch?: { id: number; at: number; data: Buffer }[]
}

interface Download {
  kind: 'download'
  file: FileHandle
  path: string
  shown: string
  /** The size when opened: reading [0, size) makes the transfer complete. */
  size: number
  hash: Hash
  hashed: number
  inOrder: boolean
  read: Ranges
  progressAt: number
  queue: Promise<void>
}

interface Listing {
  kind: 'listing'
  dir: fs.Dir
  path: string
  listedDots?: boolean
  queue: Promise<void>
}

type OpenHandle = Upload | Download | Listing

class SftpSession {
  private readonly handles = new Map<string, OpenHandle>()
  private readonly answers = new Map<string, Promise<boolean | ConsentOutcome>>()
  /** Partial files an open upload handle writes to. */
  private readonly uploading = new Set<string>()
  /** Open uploads by target: a STAT or SETSTAT of that path meets the file being written (sshfs). */
  private readonly uploadsByTarget = new Map<string, Upload>()
  /**
   * OPENs for writing and CLOSEs of uploads still running, by path: a request on that path waits
   * for them, as sshfs sends OPEN and LSTAT together and expects the file there once CLOSE is done.
   */
  private readonly busy = new Map<string, Promise<unknown>>()
  private readonly withdrawn = new AbortController()
  private handleCount = 0
  private closed = false

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly options: SftpServeOptions,
  ) {}

  start(): void {
    const sftp = this.sftp
    // A malformed packet: ssh2 closes the channel itself, and 'close' follows.
    sftp.on('error', () => {})
    sftp.once('close', () => this.end())
    announceExtensions(sftp)
    sftp.on('OPEN', (id, filename, flags, attrs) => this.run(id, () => this.open(id, filename, flags, attrs)))
    sftp.on('OPENDIR', (id, where) => this.run(id, () => this.openDirectory(id, where)))
    sftp.on('READ', (id, handle, offset, length) =>
      this.onHandle(id, handle, (open) => this.read(id, open, offset, length)),
    )
    sftp.on('WRITE', (id, handle, offset, data) => this.write(id, handle, offset, data))
    sftp.on('READDIR', (id, handle) => this.onHandle(id, handle, (open) => this.readDirectory(id, open)))
    sftp.on('FSTAT', (id, handle) => this.onHandle(id, handle, (open) => this.fstat(id, open)))
    sftp.on('FSETSTAT', (id, handle, attrs) =>
      this.onHandle(id, handle, (open) => this.fsetstat(id, open, attrs)),
    )
    sftp.on('CLOSE', (id, handle) => this.close(id, handle))
    sftp.on('REALPATH', (id, where) => this.run(id, () => this.realpath(id, where)))
    sftp.on('STAT', (id, where) => this.run(id, () => this.stat(id, where, true), where))
    sftp.on('LSTAT', (id, where) => this.run(id, () => this.stat(id, where, false), where))
    sftp.on('SETSTAT', (id, where, attrs) => this.run(id, () => this.setstat(id, where, attrs), where))
    sftp.on('MKDIR', (id, where, attrs) => this.run(id, () => this.mkdir(id, where, attrs)))
    sftp.on('RMDIR', (id, where) => this.run(id, () => this.rmdir(id, where)))
    sftp.on('REMOVE', (id, where) => this.run(id, () => this.remove(id, where), where))
    sftp.on('RENAME', (id, from, to) => this.run(id, () => this.rename(id, from, to, false), from, to))
    sftp.on('READLINK', (id, where) => this.run(id, () => this.readlink(id, where)))
    sftp.on('SYMLINK', (id, first, second) => {
      // On the wire OpenSSH's clients (and paramiko, lftp) send the link's target first, then the
      // link: ssh2 swaps the two only for a peer that says it is OpenSSH, which this one is not.
      const [target, link] = (sftp as unknown as { _isOpenSSH?: boolean })._isOpenSSH
        ? [second, first]
        : [first, second]
      this.run(id, () => this.symlink(id, target, link), link)
    })
    sftp.on('EXTENDED', (id, name, data) => this.extended(id, name, data as Buffer | undefined))
  }

  // --- Requests on a path ------------------------------------------------------------------

  private async open(id: number, filename: string, flags: number, attrs: Partial<Attributes>): Promise<void> {
    if (this.handles.size >= MAX_HANDLES) throw new SftpError(STATUS_CODE.FAILURE, 'too many open files')
    const reading = (flags & OPEN_MODE.READ) !== 0
    const writing = (flags & OPEN_MODE.WRITE) !== 0
    const requested = this.resolve(filename)
    if (writing) {
      const opening = this.openUpload(id, requested, flags, attrs, reading)
      this.markBusy(requested, opening)
      return opening
    }
    await this.settled(requested)
    if (reading) return this.openDownload(id, requested)
    throw new SftpError(STATUS_CODE.FAILURE, 'open a file for reading or for writing')
  }

  private async openUpload(
    id: number,
    requested: string,
    flags: number,
    attrs: Partial<Attributes>,
    reading = false,
  ): Promise<void> {
    await this.settled(requested)
    const where = parentFollowedNow(requested)
    const dir = path.dirname(where)
    const base = path.basename(where)
    if (!base || base === '.' || base === '..') throw new SftpError(STATUS_CODE.FAILURE, 'not a file name')
    const resumed = unpartialName(base)
    const name = resumed ?? base
    const target = path.join(dir, name)
    const partial = path.join(dir, partialName(name))
    const announced = typeof attrs.size === 'number' ? attrs.size : undefined
    const size = announced === undefined ? '' : ` (${formatSize(announced)})`
    const verb = resumed === undefined ? 'put' : 'finish putting'
    // Looked at before asking, for the end user only: the technician learns nothing before the answer.
    const existing = attempt(() => fs.statSync(target))
    const replacing = existing?.isFile() ? ', replacing the file there' : ''
    await this.need(
      'files.send',
      `${verb} a file on this computer: ${show(name, 100)}${size} into ${show(dir)}${replacing}`,
      target,
      { path: target, folder: dir },
    )

    if (existing?.isDirectory()) throw new SftpError(STATUS_CODE.FAILURE, `${show(target)} is a folder`)
    if (existing && flags & OPEN_MODE.EXCL) {
      throw new SftpError(STATUS_CODE.FAILURE, `${show(target)} already exists`)
    }
    // Reading back a file that starts as the end user's is reading their bytes.
    if (reading && existing && !(flags & OPEN_MODE.TRUNC) && resumed === undefined) {
      await this.need(
        'files.receive',
        `copy a file from this computer: ${show(name, 100)} (${formatSize(existing.size)}) from ${show(dir)}`,
        target,
        { path: target, folder: dir },
      )
    }
    // Two handles on one partial would each put the other's data in place.
    if (this.uploading.has(partial)) {
      throw new SftpError(STATUS_CODE.FAILURE, `${show(target)} is already being uploaded`)
    }
    this.uploading.add(partial)
    let opened: { file: FileHandle; start: number }
    let writing = partial
    try {
      if (resumed !== undefined) {
        const mode =
          O_RDWR |
          O_NOFOLLOW |
          (flags & OPEN_MODE.CREAT ? O_CREAT : 0) |
          (flags & OPEN_MODE.TRUNC ? O_TRUNC : 0)
        opened = await openPartial(partial, mode)
      } else {
        if (!existing && !(flags & OPEN_MODE.CREAT)) {
          throw new SftpError(STATUS_CODE.NO_SUCH_FILE, `no such file: ${show(target)}`)
        }
        if (existing && !(flags & OPEN_MODE.TRUNC)) {
          await removeStale(partial)
          // Without TRUNC the client edits the file as it is: it does so on a copy, renamed at CLOSE.
          writing = path.join(dir, `.${name}.${randomBytes(6).toString('hex')}${EDIT_SUFFIX}`)
          await fsp.copyFile(target, writing, fs.constants.COPYFILE_EXCL)
          opened = await openPartial(writing, O_RDWR | O_NOFOLLOW)
        } else {
          // O_EXCL first: a stale partial is rare, and unlinking one that was not there cost every
          // file of a tree a trip through libuv's thread pool.
          opened = await createPartial(partial).catch(async (error: unknown) => {
            if (errorCode(error) !== 'EEXIST') throw error
            await removeStale(partial)
            return createPartial(partial)
          })
        }
      }
    } catch (error) {
      this.uploading.delete(partial)
      if (writing !== partial) await fsp.rm(writing, { force: true }).catch(() => {})
      throw error
    }
    const mixed = writing !== partial
    if (!mixed) this.options.ledger?.notePartial(partial)
    const written = new Ranges()
    written.add(0, opened.start)
    let settle = () => {}
    const done = new Promise<void>((resolve) => (settle = resolve))
    const upload: Upload = {
      kind: 'upload',
      done,
      settle,
      file: opened.file,
      readable: reading,
      baseMode: existing?.isFile() ? existing.mode & 0o7777 : DEFAULT_FILE_MODE,
      target,
      partial,
      writing,
      mixed,
      shown: show(target, MAX_DETAIL_LENGTH),
      hash: createHash('sha256'),
      hashed: 0,
      // Bytes already there were never seen streaming in: CLOSE hashes by re-reading the file.
      inOrder: opened.start === 0,
      append: (flags & OPEN_MODE.APPEND) !== 0,
      end: opened.start,
      written,
      ...(announced !== undefined ? { announced } : {}),
      ...(typeof attrs.mode === 'number' ? { mode: attrs.mode & 0o777 } : {}),
      progressAt: 0,
      queue: Promise.resolve(),
    }
    if (!this.closed) this.uploadsByTarget.set(target, upload)
    this.addHandle(id, upload)
  }

  private async openDownload(id: number, requested: string): Promise<void> {
    const real = followedNow(requested)
    const stats = attempt(() => fs.statSync(real))
    const size = stats?.isFile() ? ` (${formatSize(stats.size)})` : ''
    const name = show(path.basename(real), 100)
    await this.need(
      'files.receive',
      `copy a file from this computer: ${name}${size} from ${show(path.dirname(real))}`,
      real,
      { path: real, folder: path.dirname(real) },
    )
    // The path is already real: a link swapped in since is not followed, a FIFO does not block.
    const file = await fsp.open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK).catch(async (error: unknown) => {
      // Said only now, once allowed: which of the two is missing is the end user's to reveal.
      if (errorCode(error) === 'ENOENT' && !(await fsp.stat(path.dirname(real)).catch(() => undefined))) {
        throw new SftpError(STATUS_CODE.NO_SUCH_FILE, `no such folder: ${show(path.dirname(real))}`)
      }
      throw error
    })
    let fileSize: number
    try {
      const opened = fs.fstatSync(file.fd)
      if (!opened.isFile()) throw new SftpError(STATUS_CODE.FAILURE, `${show(real)} is not a regular file`)
      fileSize = opened.size
      this.options.ledger?.noteReadable(real, opened)
    } catch (error) {
      await file.close().catch(() => {})
      throw error
    }
    this.addHandle(id, {
      kind: 'download',
      file,
      path: real,
      shown: show(real, MAX_DETAIL_LENGTH),
      size: fileSize,
      hash: createHash('sha256'),
      hashed: 0,
      inOrder: true,
      read: new Ranges(),
      progressAt: 0,
      queue: Promise.resolve(),
    })
  }

  private async openDirectory(id: number, where: string): Promise<void> {
    if (this.handles.size >= MAX_HANDLES) throw new SftpError(STATUS_CODE.FAILURE, 'too many open files')
    const real = await followed(this.resolve(where))
    await this.need('files.browse', `list a folder on this computer: ${show(real)}`, real, {
      path: real,
      folder: real,
    })
    const dir = await fsp.opendir(real)
    this.addHandle(id, { kind: 'listing', dir, path: real, queue: Promise.resolve() })
  }

  private async realpath(id: number, where: string): Promise<void> {
    const requested = this.resolve(where)
    const start = where === '' || where === '.' || requested === path.resolve(this.options.home)
    if (!start) {
      await this.need('files.browse', `look up a path on this computer: ${show(requested)}`, requested, {
        path: requested,
        folder: path.dirname(requested),
      })
    }
    let real: string
    try {
      real = fs.realpathSync.native(requested)
    } catch (error) {
      // Like OpenSSH: a path that does not exist (yet) is returned as it would be.
      if (errorCode(error) !== 'ENOENT') throw error
      real = requested
    }
    this.reply(() => this.sftp.name(id, [{ filename: real, longname: real, attrs: {} as Attributes }]))
  }

  private async stat(id: number, where: string, follow: boolean): Promise<void> {
    const requested = this.resolve(where)
    const real = follow ? followedNow(requested) : parentFollowedNow(requested)
    await this.need('files.browse', `look at a file on this computer: ${show(real)}`, real, inFolder(real))
    const upload = this.uploadsByTarget.get(real)
    const writing = upload && attempt(() => fs.fstatSync(upload.file.fd))
    if (upload && writing) return this.reply(() => this.sftp.attrs(id, uploadAttributes(upload, writing)))
    const stats = follow ? fs.statSync(real) : fs.lstatSync(real)
    this.reply(() => this.sftp.attrs(id, toAttributes(stats)))
  }

  private async setstat(id: number, where: string, attrs: Partial<Attributes>): Promise<void> {
    const real = await followed(this.resolve(where))
    // The file this channel is writing (sshfs's touch, truncate): part of that upload, as FSETSTAT.
    const upload = this.uploadsByTarget.get(real)
    if (upload) return this.enqueue(id, upload, () => this.fsetstat(id, upload, attrs))
    await this.change(id, real, attrs)
  }

  /**
   * Changes the mode, owner, size or times of `real`: asks `files.modify`, naming each change,
   * unless it is only the mode and times of something this session made (scp -p after an upload).
   */
  private async change(id: number, real: string, attrs: Partial<Attributes>): Promise<void> {
    const changes = changesOf(attrs)
    // Nothing to change: nothing to ask about, and nothing is looked at.
    if (changes.length === 0) return this.ok(id)
    const ledger = this.options.ledger
    const own =
      ledger !== undefined &&
      changes.every((change) => change.kind === 'mode' || change.kind === 'times') &&
      (typeof attrs.mode !== 'number' || (attrs.mode & ~S_IFMT & ~0o777) === 0) &&
      ledger.isWritten(real, await fsp.lstat(real).catch(() => undefined))
    if (!own) await this.need('files.modify', changeSummary(real, changes), real, inFolder(real))
    await applyAttributes(real, attrs)
    // Still the technician's own: only its mode or times changed, as it asked.
    if (own) ledger.noteWritten(real, await fsp.lstat(real))
    this.ok(id)
  }

  private async mkdir(id: number, where: string, attrs: Partial<Attributes>): Promise<void> {
    const real = await parentFollowed(this.resolve(where))
    const summary = `create a folder on this computer: ${show(real)}`
    // The folders of a folder upload are part of it: its one prompt (files.send) covers them.
    const permission = this.options.ledger?.insideFolderUpload(real) ? 'files.send' : 'files.modify'
    await this.need(permission, summary, real, inFolder(real))
    await fsp.mkdir(real, { mode: typeof attrs.mode === 'number' ? attrs.mode & 0o777 : 0o755 })
    this.options.ledger?.noteWritten(real, await fsp.lstat(real))
    this.ok(id)
  }

  private async rmdir(id: number, where: string): Promise<void> {
    const real = await parentFollowed(this.resolve(where))
    await this.need('files.modify', `delete a folder on this computer: ${show(real)}`, real, inFolder(real))
    await fsp.rmdir(real)
    this.ok(id)
  }

  private async remove(id: number, where: string): Promise<void> {
    const real = await parentFollowed(this.resolve(where))
    await this.need('files.modify', `delete a file on this computer: ${show(real)}`, real, inFolder(real))
    await fsp.unlink(real)
    this.ok(id)
  }

  private async rename(id: number, from: string, to: string, replace: boolean): Promise<void> {
    const source = await parentFollowed(this.resolve(from))
    // A file still being written is not there yet: sshfs renames it (sed -i) before the kernel's
    // release sends CLOSE. Its CLOSE comes right after; the rename waits for it, a while.
    const writing = this.uploadsByTarget.get(source)
    if (writing) await Promise.race([writing.done, delay(UPLOAD_CLOSE_WAIT_MS)])
    const destination = await parentFollowed(this.resolve(to))
    // Partial files hold only what uploads wrote, so a resume may hash them: nothing else becomes one.
    if (unpartialName(path.basename(destination)) !== undefined) {
      throw new SftpError(
        STATUS_CODE.PERMISSION_DENIED,
        `names ending in ${PARTIAL_SUFFIX} are kept for rescue's own uploads`,
      )
    }
    const replaced = replace ? await fsp.lstat(destination).catch(() => undefined) : undefined
    await this.need(
      'files.modify',
      replaced
        ? `rename a file on this computer: ${show(source)} to ${show(destination)}, replacing the ${replaced.isDirectory() ? 'folder' : 'file'} there`
        : `rename a file on this computer: ${show(source)} to ${show(destination)}`,
      `${source} -> ${destination}`,
      // A folder grant covers a rename inside that folder only: across folders, the end user is asked.
      path.dirname(source) === path.dirname(destination) ? inFolder(source) : undefined,
    )
    // SFTP's RENAME does not replace (as OpenSSH's): posix-rename@openssh.com does, and says so when it asks.
    if (
      !replace &&
      (await fsp.lstat(destination).then(
        () => true,
        () => false,
      ))
    ) {
      throw new SftpError(STATUS_CODE.FAILURE, `${show(destination)} already exists`)
    }
    await fsp.rename(source, destination)
    this.ok(id)
  }

  private async readlink(id: number, where: string): Promise<void> {
    const real = await parentFollowed(this.resolve(where))
    await this.need('files.browse', `read a link on this computer: ${show(real)}`, real, inFolder(real))
    const target = await fsp.readlink(real)
    this.reply(() => this.sftp.name(id, [{ filename: target, longname: target, attrs: {} as Attributes }]))
  }

  private async symlink(id: number, target: string, where: string): Promise<void> {
    if (target.includes('\0')) throw new SftpError(STATUS_CODE.FAILURE, 'a path cannot contain NUL')
    const link = await parentFollowed(this.resolve(where))
    await this.need(
      'files.modify',
      `create a symbolic link on this computer: ${show(link)} pointing to ${show(target)}`,
      `${link} -> ${target}`,
      inFolder(link),
    )
    await fsp.symlink(target, link)
    this.ok(id)
  }

  private async hardlink(id: number, from: string, to: string): Promise<void> {
    const source = await parentFollowed(this.resolve(from))
    const link = await parentFollowed(this.resolve(to))
    if (unpartialName(path.basename(link)) !== undefined) {
      throw new SftpError(
        STATUS_CODE.PERMISSION_DENIED,
        `names ending in ${PARTIAL_SUFFIX} are kept for rescue's own uploads`,
      )
    }
    await this.need(
      'files.modify',
      `create a hard link on this computer: ${show(link)} to the file ${show(source)}`,
      `${link} = ${source}`,
      path.dirname(source) === path.dirname(link) ? inFolder(link) : undefined,
    )
    await fsp.link(source, link)
    this.ok(id)
  }

  private async statvfs(id: number, where: string): Promise<void> {
    const real = await followed(this.resolve(where))
    await this.need('files.browse', `look at the disk space on this computer: ${show(real)}`, real, {
      path: real,
      folder: real,
    })
    const disk = await fsp.statfs(real)
    const reply = Buffer.alloc(11 * 8)
    const fields = [
      disk.bsize,
      disk.bsize,
      disk.blocks,
      disk.bfree,
      disk.bavail,
      disk.files,
      disk.ffree,
      disk.ffree,
      0,
      0,
      255,
    ]
    fields.forEach((value, index) => reply.writeBigUInt64BE(BigInt(value), index * 8))
    if (!this.closed) sendExtendedReply(this.sftp, id, reply)
  }

  /** The OpenSSH extensions announced in VERSION (see sftp-extensions.ts); others are unsupported. */
  private extended(id: number, name: string, data: Buffer | undefined): void {
    const strings = readStrings(data ?? Buffer.alloc(0))
    const [first, second] = strings
    switch (name) {
      case 'posix-rename@openssh.com':
        if (first === undefined || second === undefined) break
        return this.run(id, () => this.rename(id, first, second, true), first, second)
      case 'hardlink@openssh.com':
        if (first === undefined || second === undefined) break
        return this.run(id, () => this.hardlink(id, first, second), first, second)
      case 'statvfs@openssh.com':
        if (first === undefined) break
        return this.run(id, () => this.statvfs(id, first), first)
      case 'users-groups-by-id@openssh.com':
        // Names of the owners of files a listing (asked for) already showed by number: asked nothing.
        return this.run(id, async () => {
          if (!this.closed) sendExtendedReply(this.sftp, id, usersGroupsById(data ?? Buffer.alloc(0)))
        })
      case 'fsync@openssh.com': {
        const handle = data && data.length >= 4 ? data.subarray(4, 4 + data.readUInt32BE(0)) : undefined
        if (!handle) break
        return this.onHandle(id, handle, async (open) => {
          if (open.kind === 'upload') await open.file.sync()
          this.ok(id)
        })
      }
      default:
        return this.status(id, STATUS_CODE.OP_UNSUPPORTED, `${show(name, 100)} is not supported`)
    }
    this.status(id, STATUS_CODE.FAILURE, 'malformed request')
  }

  // --- Requests on a handle ----------------------------------------------------------------

  private async read(id: number, open: OpenHandle, offset: number, length: number): Promise<void> {
    if (open.kind === 'upload' && open.readable) {
      // Reading back what this handle wrote (or the copy it started from, which was asked for).
      if (!Number.isSafeInteger(offset)) throw new SftpError(STATUS_CODE.FAILURE, 'offset out of range')
      const back = Buffer.allocUnsafe(Math.min(length, MAX_READ))
      const { bytesRead } = await open.file.read(back, 0, back.length, offset)
      if (bytesRead === 0) return this.status(id, STATUS_CODE.EOF, 'end of file')
      return this.reply(() => this.sftp.data(id, back.subarray(0, bytesRead)))
    }
    if (open.kind !== 'download') throw new SftpError(STATUS_CODE.FAILURE, 'not open for reading')
    if (!Number.isSafeInteger(offset)) throw new SftpError(STATUS_CODE.FAILURE, 'offset out of range')
    const buffer = spareReads.pop() ?? Buffer.allocUnsafe(MAX_READ)
    const wanted = Math.min(length, MAX_READ)
    const bytesRead =
      offset + wanted <= AT_ONCE_BYTES
        ? fs.readSync(open.file.fd, buffer, 0, wanted, offset)
        : (await open.file.read(buffer, 0, wanted, offset)).bytesRead
    if (bytesRead === 0) return this.status(id, STATUS_CODE.EOF, 'end of file')
    const chunk = buffer.subarray(0, bytesRead)
    this.noteRead(open, offset, chunk)
    this.reply(() => this.sftp.data(id, chunk))
    // ssh2 copied the bytes into its reply: the buffer serves a next READ (less for V8 to collect).
    if (spareReads.length < SPARE_READS) spareReads.push(buffer)
  }

  /** Bytes read from a download, by a READ or the file stream: hashed when in order, counted. */
  private noteRead(open: Download, offset: number, chunk: Buffer): void {
    const end = offset + chunk.length
    if (open.inOrder && offset <= open.hashed && end > open.hashed) {
      open.hash.update(chunk.subarray(open.hashed - offset))
      open.hashed = end
    } else if (offset > open.hashed) {
      open.inOrder = false
    }
    open.read.add(offset, end)
    this.progress(open, end)
  }

  /** Bytes for an upload, from a WRITE or the file stream, as they arrive: hashed when in order, counted. */
  private noteWrite(open: Upload, offset: number, data: Buffer): number {
    const at = open.append ? open.end : offset
    open.end = Math.max(open.end, at + data.length)
    if (open.inOrder && at === open.hashed) {
      open.hash.update(data)
      open.hashed += data.length
    } else {
      open.inOrder = false
    }
    open.written.add(at, at + data.length)
    this.progress(open, open.end)
    return at
  }

  // Hashing happens as each WRITE arrives, so in the client's order, before the write is queued.
  private write(id: number, raw: Buffer, offset: number, data: Buffer): void {
    const open = this.handles.get(raw.toString('hex'))
    if (!open) return this.status(id, STATUS_CODE.FAILURE, 'no such handle')
    if (open.kind !== 'upload') return this.status(id, STATUS_CODE.FAILURE, 'not open for writing')
    if (!Number.isSafeInteger(offset)) return this.status(id, STATUS_CODE.FAILURE, 'offset out of range')
    const at = this.noteWrite(open, offset, data)
    // WRITEs that arrive while the file is busy join one batch: one writev per contiguous run, and
    // their OKs in one turn, so one frame back through the hops instead of one per request.
    if (open.batch) return void open.batch.push({ id, at, data })
    const batch = [{ id, at, data }]
    open.batch = batch
    open.queue = open.queue.then(async () => {
      if (open.batch === batch) open.batch = undefined
      try {
        for (let first = 0; first < batch.length;) {
          let last = first + 1
          while (
            last < batch.length &&
            batch[last]!.at === batch[last - 1]!.at + batch[last - 1]!.data.length
          )
            last++
          const run = batch.slice(first, last).map((write) => write.data)
          const at = batch[first]!.at
          if (at + run.reduce((sum, data) => sum + data.length, 0) <= AT_ONCE_BYTES)
            writeAllNow(open.file.fd, run, at)
          else await writeAll(open.file, run, at)
          first = last
        }
      } catch (error) {
        open.failure ??= `a write failed: ${statusOf(error).message}`
        for (const write of batch) this.fail(write.id, error)
        return
      }
      for (const write of batch) this.ok(write.id)
    })
  }

  private async readDirectory(id: number, open: OpenHandle): Promise<void> {
    if (open.kind !== 'listing') throw new SftpError(STATUS_CODE.FAILURE, 'not a folder handle')
    const names: { filename: string; longname: string; attrs: Attributes }[] = []
    if (!open.listedDots) {
      // As a readdir(3) on POSIX gives them, and OpenSSH's server passes them on: `ls -la` shows them.
      open.listedDots = true
      for (const [name, where] of [
        ['.', open.path],
        ['..', path.dirname(open.path)],
      ] as const) {
        const stats = await fsp.lstat(where).catch(() => undefined)
        if (stats) names.push({ filename: name, longname: longname(name, stats), attrs: toAttributes(stats) })
      }
    }
    for (let entry = await open.dir.read(); entry; entry = await open.dir.read()) {
      const stats = await fsp.lstat(path.join(open.path, entry.name)).catch(() => undefined)
      // Gone since it was listed: leave it out.
      if (!stats) continue
      names.push({ filename: entry.name, longname: longname(entry.name, stats), attrs: toAttributes(stats) })
      if (names.length >= DIRECTORY_BATCH) break
    }
    if (names.length === 0) return this.status(id, STATUS_CODE.EOF, 'no more files')
    this.reply(() => this.sftp.name(id, names))
  }

  private async fstat(id: number, open: OpenHandle): Promise<void> {
    const stats = open.kind === 'listing' ? fs.statSync(open.path) : fs.fstatSync(open.file.fd)
    this.reply(() => this.sftp.attrs(id, toAttributes(stats)))
  }

  private async fsetstat(id: number, open: OpenHandle, attrs: Partial<Attributes>): Promise<void> {
    // Changing the file behind a read or listing handle is a change on a path like SETSTAT.
    if (open.kind !== 'upload') return this.change(id, open.path, attrs)
    // The partial stays 0600 until it is verified: mode and times apply at CLOSE.
    if (typeof attrs.mode === 'number') open.mode = attrs.mode & 0o777
    if (typeof attrs.atime === 'number' && typeof attrs.mtime === 'number') {
      open.times = { atime: attrs.atime, mtime: attrs.mtime }
    }
    if (typeof attrs.uid === 'number' && typeof attrs.gid === 'number') {
      await open.file.chown(attrs.uid, attrs.gid)
    }
    if (typeof attrs.size === 'number') {
      // OpenSSH's sftp and scp end every upload so, with the size they wrote: the file is that
      // long already (writes on this handle are done, in order, before this runs).
      if (attrs.size !== open.end) await open.file.truncate(attrs.size)
      if (attrs.size < open.end) open.written.truncate(attrs.size)
      else open.written.add(open.end, attrs.size)
      open.end = attrs.size
      // The hash of [0, hashed) stays right unless bytes it covers were cut; a longer file (zeros
      // past `hashed`) is re-read at CLOSE, as hashed no longer equals its size.
      if (attrs.size < open.hashed) open.inOrder = false
    }
    this.ok(id)
  }

  private close(id: number, raw: Buffer): void {
    const key = raw.toString('hex')
    const open = this.handles.get(key)
    if (!open) return this.status(id, STATUS_CODE.FAILURE, 'no such handle')
    // Gone at once: what arrives for this handle from now on is refused.
    this.handles.delete(key)
    this.options.openFiles?.remove(key)
    // A request on the file arriving from now on meets it in place (sed -i renames it next).
    if (open.kind === 'upload') this.markBusy(open.target, open.done)
    this.enqueue(id, open, async () => {
      if (open.kind === 'listing') {
        await open.dir.close().catch(() => {})
        return this.ok(id)
      }
      if (open.kind === 'download') {
        await this.finishDownload(open)
        return this.ok(id)
      }
      const problem = await this.finishUpload(open)
      if (problem === undefined) return this.ok(id)
      const kept = open.mixed
        ? 'nothing was kept'
        : `the file stays as ${show(path.basename(open.partial), 200)}`
      this.status(id, STATUS_CODE.FAILURE, `${problem}: ${kept}`)
    })
  }

  // --- Uploads and downloads ---------------------------------------------------------------

  /** Verifies the partial and renames it onto the target; returns why not when it cannot. */
  private async finishUpload(up: Upload): Promise<string | undefined> {
    let problem = up.failure
    let size = up.end
    let stats: fs.Stats | undefined
    try {
      stats = fs.fstatSync(up.file.fd)
      size = stats.size
      problem ??= verify(up, size)
      // Small files are not synced one by one (sshd syncs none): a tree of thousands would wait on
      // the disk for each. A large file is, before it replaces anything.
      if (size >= SYNC_FROM_BYTES) await up.file.sync()
    } catch (error) {
      problem ??= `the file could not be checked: ${statusOf(error).message}`
    } finally {
      await up.file.close().catch(() => {})
    }
    const sha256 = await this.uploadHash(up, size)
    const expected = this.options.ledger?.takeExpectation(up.target)
    if (problem === undefined && expected && (expected.sha256 !== sha256 || expected.size !== size)) {
      problem =
        expected.size !== size
          ? `${size} bytes arrived where the technician sent ${expected.size}`
          : up.mixed
            ? // The end user's bytes are in it: its hash is not the technician's to learn.
              `SHA-256 mismatch: the file is not the one the technician sent`
            : `SHA-256 mismatch: the technician sent ${expected.sha256}, this computer got ${sha256}`
    }
    if (problem === undefined) {
      try {
        // OpenSSH's clients send the mode with OPEN: then the file it replaces need not be looked at.
        const replaced = up.mode === undefined ? attempt(() => fs.statSync(up.target)) : undefined
        fs.chmodSync(up.writing, up.mode ?? (replaced ? replaced.mode & 0o777 : DEFAULT_FILE_MODE))
        // Stays in the pool: a rename onto a file makes ext4 start writing the new one's blocks
        // (auto_da_alloc), about a millisecond and at times tens, which would stall every channel.
        await fsp.rename(up.writing, up.target)
      } catch (error) {
        problem = `the file could not be put in place: ${statusOf(error).message}`
      }
    }
    if (problem === undefined && up.times) {
      // The file is in place and whole: times that cannot be set do not undo that.
      attempt(() => fs.utimesSync(up.target, up.times!.atime, up.times!.mtime))
    }
    if (problem === undefined && !up.mixed) {
      // Every byte of it is the technician's: it may learn its hash and set its mode and times.
      // Its identity (device, inode, size, mtime) is the one fstat saw: chmod and rename change
      // none of them, utimes the mtime. A change by anyone since makes it look foreign: the safe side.
      const identity = up.times ? attempt(() => fs.lstatSync(up.target)) : stats
      if (identity) this.options.ledger?.noteWritten(up.target, identity)
    }
    // A copy of the end user's file is no partial to resume from: it goes.
    if (problem !== undefined && up.mixed) await fsp.rm(up.writing, { force: true }).catch(() => {})
    this.uploading.delete(up.partial)
    if (this.uploadsByTarget.get(up.target) === up) this.uploadsByTarget.delete(up.target)
    up.settle()
    this.report(
      up.target,
      { direction: 'to-host', path: up.shown, bytes: size, sha256, complete: problem === undefined },
      up.mixed,
    )
    return problem
  }

  private async uploadHash(up: Upload, size: number): Promise<string> {
    if (up.inOrder && up.hashed === size) return up.hash.digest('hex')
    return hashFile(up.writing).catch(() => '')
  }

  private async finishDownload(down: Download): Promise<void> {
    await down.file.close().catch(() => {})
    const complete = down.read.firstGap(down.size) === undefined
    let bytes = down.hashed
    let sha256 = down.hash.digest('hex')
    const streamed = { bytes, sha256 }
    // A resume (reget, get -a) reads from where the technician's copy ends to the end of the file.
    const from = down.read.first()
    const resumed =
      !complete && from !== undefined && from > 0 && down.read.firstGapFrom(from, down.size) === undefined
    if ((complete && !down.inOrder) || resumed) {
      // Every byte went out, or every byte from where the resume began: the file says what they were.
      bytes = down.size
      sha256 = await hashFile(down.path).catch(() => '')
    }
    if (resumed) {
      // The ledger keeps what this channel read in order from the start (none of it, for a resume),
      // as before: the end user's log says what the technician's copy now is.
      this.options.ledger?.record(down.path, { ...streamed, complete: false }, false)
      return this.emit({
        event: 'file-transfer',
        direction: 'from-host',
        path: down.shown,
        bytes,
        sha256,
        complete: true,
        from,
      })
    }
    this.report(down.path, {
      direction: 'from-host',
      path: down.shown,
      bytes,
      sha256,
      complete,
    })
  }

  /** The channel ended with this handle open: uploads keep their partial for a resume. */
  private async abandon(open: OpenHandle): Promise<void> {
    if (open.kind === 'listing') return open.dir.close().catch(() => {})
    if (open.kind === 'download') return this.finishDownload(open)
    let size = open.end
    try {
      size = (await open.file.stat()).size
      // Writes can land out of order (a client may split one): keep only the part with no hole in
      // it, so a resume never starts after bytes that never came.
      const gap = open.failure === undefined ? open.written.firstGap(size) : 0
      if (gap !== undefined) {
        await open.file.truncate(gap)
        size = gap
      }
      await open.file.sync()
    } catch {
      // Whatever is on disk is what a resume starts from.
    } finally {
      await open.file.close().catch(() => {})
    }
    const sha256 = await this.uploadHash(open, size)
    // An empty partial has nothing to resume from, and a copy of the end user's file is no partial.
    if (size === 0 || open.mixed) await fsp.rm(open.writing, { force: true }).catch(() => {})
    this.uploading.delete(open.partial)
    if (this.uploadsByTarget.get(open.target) === open) this.uploadsByTarget.delete(open.target)
    open.settle()
    this.report(
      open.target,
      { direction: 'to-host', path: open.shown, bytes: size, sha256, complete: false },
      open.mixed,
    )
  }

  // --- Plumbing ----------------------------------------------------------------------------

  private end(): void {
    if (this.closed) return
    this.closed = true
    this.withdrawn.abort()
    const open = [...this.handles.values()]
    for (const key of this.handles.keys()) this.options.openFiles?.remove(key)
    this.handles.clear()
    for (const handle of open) {
      handle.queue = handle.queue.then(() => this.abandon(handle)).catch(() => {})
    }
  }

  private addHandle(id: number, open: OpenHandle): void {
    if (this.closed) {
      void this.abandon(open).catch(() => {})
      return
    }
    const handle = this.options.openFiles?.newHandle() ?? Buffer.alloc(4)
    if (!this.options.openFiles) handle.writeUInt32BE(++this.handleCount % 2 ** 32)
    const key = handle.toString('hex')
    this.handles.set(key, open)
    if (open.kind !== 'listing') this.options.openFiles?.add(handle, this.streamable(key, open))
    this.reply(() => this.sftp.handle(id, handle))
  }

  /** What `file-stream@rescue` may do with an open file: what its WRITEs and READs do, in their queue. */
  private streamable(key: string, open: Upload | Download): StreamableFile {
    const isOpen = () => !this.closed && this.handles.get(key) === open
    if (open.kind === 'download') {
      return {
        kind: 'download',
        isOpen,
        size: () => open.size,
        read: async (at, into) => {
          const reading = open.queue.then(() => open.file.read(into, 0, into.length, at))
          open.queue = reading.then(
            () => {},
            () => {},
          )
          const { bytesRead } = await reading
          this.noteRead(open, at, into.subarray(0, bytesRead))
          return bytesRead
        },
      }
    }
    return {
      kind: 'upload',
      isOpen,
      end: () => open.end,
      write: (at, data) => {
        for (let offset = at, next = 0; next < data.length; offset += data[next]!.length, next++)
          this.noteWrite(open, offset, data[next]!)
        // SFTP WRITEs after this start a batch of their own, behind it.
        open.batch = undefined
        const writing = open.queue.then(() => writeAll(open.file, data, at))
        open.queue = writing.catch((error: unknown) => {
          open.failure ??= `a write failed: ${statusOf(error).message}`
        })
        return writing
      },
    }
  }

  /** Asks once per distinct prompt and channel; throws PERMISSION_DENIED unless allowed. */
  private async need(
    permission: FilePermission,
    summary: string,
    detail: string,
    scope?: FileScope,
  ): Promise<void> {
    if ([...sanitizeForTerminal(detail, Number.MAX_SAFE_INTEGER)].length > MAX_DETAIL_LENGTH) {
      throw new SftpError(STATUS_CODE.FAILURE, 'the path is too long to show the end user')
    }
    const shownDetail = show(detail, MAX_DETAIL_LENGTH)
    const key = JSON.stringify([permission, summary, shownDetail])
    let answer = this.answers.get(key)
    if (!answer) {
      answer = this.closed
        ? Promise.resolve(false)
        : Promise.resolve()
            .then(() =>
              this.options.consent.ask(permission, summary, shownDetail, this.withdrawn.signal, scope),
            )
            .catch(() => false)
      this.answers.set(key, answer)
    }
    const outcome = await answer
    const allowed = typeof outcome === 'boolean' ? outcome : outcome.allowed
    if (!allowed || this.closed) {
      // Why, in words the technician's client also reads (refusal.ts): policy, the end user, no answer...
      const why = typeof outcome === 'boolean' || outcome.allowed ? DENIED_MESSAGE : refusalMessage(outcome)
      throw new SftpError(STATUS_CODE.PERMISSION_DENIED, why)
    }
  }

  /** Relative paths start at home; a NUL cannot be in a path (nor shown honestly). */
  private resolve(where: string): string {
    if (where.includes('\0')) throw new SftpError(STATUS_CODE.FAILURE, 'a path cannot contain NUL')
    return path.resolve(this.options.home, where)
  }

  /** Runs a request once what is still being opened or closed on its `paths` is done. */
  private run(id: number, operation: () => Promise<void>, ...paths: string[]): void {
    const waits = paths.length === 0 ? [] : this.waitsFor(paths)
    void (waits.length === 0 ? operation() : Promise.all(waits).then(operation))
      .catch((error: unknown) => this.fail(id, error))
      .catch(() => {})
  }

  private waitsFor(paths: string[]): Promise<unknown>[] {
    const waits: Promise<unknown>[] = []
    for (const where of paths) {
      if (where.includes('\0')) continue
      const pending = this.busy.get(path.resolve(this.options.home, where))
      if (pending) waits.push(pending.catch(() => {}))
    }
    return waits
  }

  private async settled(requested: string): Promise<void> {
    await this.busy.get(requested)?.catch(() => {})
  }

  private markBusy(where: string, work: Promise<unknown>): void {
    const done = work.then(
      () => {},
      () => {},
    )
    this.busy.set(where, done)
    void done.then(() => {
      if (this.busy.get(where) === done) this.busy.delete(where)
    })
  }

  private onHandle(id: number, raw: Buffer, operation: (open: OpenHandle) => Promise<void>): void {
    const open = this.handles.get(raw.toString('hex'))
    if (!open) return this.status(id, STATUS_CODE.FAILURE, 'no such handle')
    this.enqueue(id, open, () => operation(open))
  }

  // One request at a time per handle, in the order they came: CLOSE waits for every write before it.
  private enqueue(id: number, open: OpenHandle, operation: () => Promise<void>): void {
    // Later WRITEs go after this operation, not into a batch queued before it.
    if (open.kind === 'upload') open.batch = undefined
    open.queue = open.queue.then(operation).catch((error: unknown) => this.fail(id, error))
  }

  private fail(id: number, error: unknown): void {
    const { code, message } = statusOf(error)
    this.status(id, code, message)
  }

  private ok(id: number): void {
    this.status(id, STATUS_CODE.OK)
  }

  private status(id: number, code: number, message?: string): void {
    this.reply(() => this.sftp.status(id, code, message))
  }

  private reply(send: () => void): void {
    if (this.closed) return
    try {
      send()
    } catch {
      // The channel went away between the request and its answer.
    }
  }

  /** A transfer ended: for the end user's view and log, and for the ledger under its real path. */
  private report(real: string, transfer: Omit<SftpTransfer, 'event'>, mixed = false): void {
    const { bytes, sha256, complete } = transfer
    this.options.ledger?.record(real, { bytes, sha256, complete }, mixed)
    this.emit({ event: 'file-transfer', ...transfer })
  }

  /** A file on its way, at most every PROGRESS_INTERVAL_MS. */
  private progress(open: Upload | Download, bytes: number): void {
    const now = Date.now()
    if (now - open.progressAt < PROGRESS_INTERVAL_MS) return
    open.progressAt = now
    const total = open.kind === 'upload' ? open.announced : open.size
    this.emit({
      event: 'file-progress',
      direction: open.kind === 'upload' ? 'to-host' : 'from-host',
      path: open.shown,
      bytes,
      ...(total !== undefined ? { total } : {}),
    })
  }

  private emit(activity: SftpActivity): void {
    try {
      this.options.onActivity(activity)
    } catch {
      // A failing listener must not take the SFTP server down with it.
    }
  }
}

/** The scope of a request on one file or folder: the folder that holds it. */
function inFolder(real: string): FileScope {
  return { path: real, folder: path.dirname(real) }
}

function verify(up: Upload, size: number): string | undefined {
  const gap = up.written.firstGap(size)
  if (gap !== undefined) return `nothing was written at offset ${gap}`
  if (up.announced !== undefined && size !== up.announced) {
    return `${size} bytes arrived where ${up.announced} were announced`
  }
  return undefined
}

/** unlink, not rm: one system call instead of two, and a folder there fails the OPEN as before. */
async function removeStale(partial: string): Promise<void> {
  await fsp.unlink(partial).catch((error: unknown) => {
    if (errorCode(error) !== 'ENOENT') throw error
  })
}

/**
 * A new, empty partial: O_EXCL made it here (no link followed), so it is a regular file of 0 bytes
 * and at most 0600 (the umask only takes bits away). No fstat or fchmod: each is a trip through
 * libuv's thread pool, and a tree of small files pays them per file.
 */
async function createPartial(partial: string): Promise<{ file: FileHandle; start: number }> {
  return { file: await fsp.open(partial, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600), start: 0 }
}

async function openPartial(partial: string, flags: number): Promise<{ file: FileHandle; start: number }> {
  const file = await fsp.open(partial, flags, 0o600)
  try {
    const stats = await file.stat()
    if (!stats.isFile()) throw new SftpError(STATUS_CODE.FAILURE, 'the partial file is not a regular file')
    await file.chmod(0o600)
    return { file, start: stats.size }
  } catch (error) {
    await file.close().catch(() => {})
    throw error
  }
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

async function applyAttributes(where: string, attrs: Partial<Attributes>): Promise<void> {
  if (typeof attrs.size === 'number') await fsp.truncate(where, attrs.size)
  if (typeof attrs.uid === 'number' && typeof attrs.gid === 'number')
    await fsp.chown(where, attrs.uid, attrs.gid)
  if (typeof attrs.mode === 'number') await fsp.chmod(where, attrs.mode & 0o7777)
  if (typeof attrs.atime === 'number' && typeof attrs.mtime === 'number') {
    await fsp.utimes(where, attrs.atime, attrs.mtime)
  }
}

interface Change {
  kind: 'mode' | 'owner' | 'size' | 'times'
  /** The new value as the end user reads it ("0666", "1000:1000", "0 B"); none for times. */
  to?: string
}

/** What a SETSTAT would change, in the order applyAttributes makes the changes. */
function changesOf(attrs: Partial<Attributes>): Change[] {
  const changes: Change[] = []
  if (typeof attrs.size === 'number') changes.push({ kind: 'size', to: formatSize(attrs.size) })
  if (typeof attrs.uid === 'number' && typeof attrs.gid === 'number') {
    changes.push({ kind: 'owner', to: `${attrs.uid}:${attrs.gid}` })
  }
  if (typeof attrs.mode === 'number') {
    changes.push({ kind: 'mode', to: (attrs.mode & 0o7777).toString(8).padStart(4, '0') })
  }
  if (typeof attrs.atime === 'number' && typeof attrs.mtime === 'number') changes.push({ kind: 'times' })
  return changes
}

/** "change the mode of /home/bob/x to 0666"; several at once: "change /home/bob/x: size to 0 B, mode to 0666". */
function changeSummary(real: string, changes: Change[]): string {
  const name = (change: Change) => (change.kind === 'times' ? 'dates' : change.kind)
  const [only] = changes
  if (changes.length === 1 && only) {
    return `change the ${name(only)} of ${show(real)}${only.to !== undefined ? ` to ${only.to}` : ''}`
  }
  const listed = changes.map(
    (change) => `${name(change)}${change.to !== undefined ? ` to ${change.to}` : ''}`,
  )
  return `change ${show(real)}: ${listed.join(', ')}`
}

function toAttributes(stats: fs.Stats): Attributes {
  return {
    mode: stats.mode,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    atime: Math.floor(stats.atimeMs / 1000),
    mtime: Math.floor(stats.mtimeMs / 1000),
  }
}

/** What STAT says of a file an open upload is writing: its size now, and the mode and times it will get. */
function uploadAttributes(up: Upload, stats: fs.Stats): Attributes {
  const attributes = toAttributes(stats)
  attributes.mode = (stats.mode & S_IFMT) | (up.mode ?? up.baseMode)
  if (up.times) {
    attributes.atime = up.times.atime
    attributes.mtime = up.times.mtime
  }
  return attributes
}

function show(text: string, maxLength = 200): string {
  return sanitizeForTerminal(text, maxLength)
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined
}

/** An SFTP status for an error: file system errors by errno, our own as they were thrown. */
function statusOf(error: unknown): { code: number; message: string } {
  if (error instanceof SftpError) return { code: error.code, message: error.message }
  switch (errorCode(error)) {
    case 'ENOENT':
    case 'ENOTDIR':
      return { code: STATUS_CODE.NO_SUCH_FILE, message: 'no such file or folder' }
    case 'EACCES':
    case 'EPERM':
      return { code: STATUS_CODE.PERMISSION_DENIED, message: "the end user's account may not do that" }
    case 'EEXIST':
      return { code: STATUS_CODE.FAILURE, message: 'it already exists' }
    case 'EISDIR':
      return { code: STATUS_CODE.FAILURE, message: 'it is a folder' }
    case 'ENOTEMPTY':
      return { code: STATUS_CODE.FAILURE, message: 'the folder is not empty' }
    case 'ENOSPC':
      return { code: STATUS_CODE.FAILURE, message: 'the disk is full' }
    case 'ELOOP':
      return { code: STATUS_CODE.FAILURE, message: 'it is a symbolic link' }
    case 'ENAMETOOLONG':
      return { code: STATUS_CODE.FAILURE, message: 'the name is too long' }
    default:
      return {
        code: STATUS_CODE.FAILURE,
        message: show(error instanceof Error ? error.message : String(error)),
      }
  }
}

/** What `work` returns, or undefined when it throws (a file that is not there, or not readable). */
function attempt<T>(work: () => T): T | undefined {
  try {
    return work()
  } catch {
    return undefined
  }
}
