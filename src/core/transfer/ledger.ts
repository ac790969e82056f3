/**
 * What the host knows of this session's file transfers, shared by its SFTP channels and the
 * transfer service: which files the end user let the technician read, which ones the technician
 * wrote, what the technician says a file it is sending must hash to, and what each finished
 * transfer hashed to. Paths are the host's real paths (links resolved as the SFTP server resolves
 * them), never sanitized copies.
 *
 * A hash is a read: the SHA-256 of each growing prefix of a file gives the file away a byte at a
 * time. So the ledger answers "may the technician learn this file's hash?" only for what the end
 * user let them read (a download, a folder download) and for bytes the technician wrote itself (a
 * file this session put in place and nobody changed since, or the partial file of an upload the
 * end user allowed, which only rescue writes to). See `hashable`.
 */
import type { Stats } from 'node:fs'
import { isInside } from '../consent/index.js'

/** What the technician says the file it is putting at a path must be. */
export interface Expectation {
  size: number
  sha256: string
}

/** A transfer as the host saw it end: `bytes` and `sha256` describe the file's first `bytes` bytes. */
export interface TransferOutcome {
  bytes: number
  sha256: string
  complete: boolean
}

/**
 * Which file a path was when the ledger noted it: the same inode, and for a file the technician
 * wrote, the same size and modification time (anything else means someone changed it since).
 */
export interface FileIdentity {
  dev: number
  ino: number
  size?: number
  mtimeMs?: number
}

/** Why the technician may learn a file's hash, and what the file must still be for that to hold. */
export type HashGrant =
  { why: 'read'; identity?: FileIdentity } | { why: 'written'; identity: FileIdentity } | { why: 'partial' }

// A session may move many files; remembering a bounded number keeps a hostile peer from growing it.
const MAX_ENTRIES = 100_000

export class TransferLedger {
  private readonly readable = new Map<string, FileIdentity>()
  private readonly written = new Map<string, FileIdentity>()
  private readonly partials = new Map<string, true>()
  private readonly expectations = new Map<string, Expectation>()
  private readonly outcomes = new Map<string, TransferOutcome & { mixed: boolean }>()
  private readonly folderReads = new Set<string>()
  private readonly folderUploads = new Set<string>()

  /** The end user let the technician read this file (a download was allowed and opened). */
  noteReadable(where: string, stats: Stats): void {
    remember(this.readable, where, { dev: stats.dev, ino: stats.ino })
  }

  /** The technician made this file or folder in this session; `stats` are what it is now. */
  noteWritten(where: string, stats: Stats): void {
    remember(this.written, where, identityOf(stats))
  }

  /** The file or folder at `where` is one this session made and nobody changed since. */
  isWritten(where: string, stats: Stats | undefined): boolean {
    const identity = this.written.get(where)
    return identity !== undefined && stats !== undefined && sameFile(identity, stats)
  }

  /**
   * An upload the end user allowed writes to this partial file. Only rescue writes partial files,
   * and only with the technician's bytes (an upload that starts from the file already there copies
   * it under another name), so what is in one is the technician's own.
   */
  notePartial(partial: string): void {
    remember(this.partials, partial, true)
  }

  /**
   * A folder transfer the end user allowed, until `until` aborts: reading everything inside a
   * folder sent from the host, or putting things inside a folder sent to it.
   */
  notePlan(direction: 'to-host' | 'from-host', root: string, until: AbortSignal): void {
    const folders = direction === 'from-host' ? this.folderReads : this.folderUploads
    if (until.aborted || folders.size >= MAX_ENTRIES) return
    folders.add(root)
    until.addEventListener('abort', () => folders.delete(root), { once: true })
  }

  /** True when `where` lies inside a folder upload the end user allowed and that is still going on. */
  insideFolderUpload(where: string): boolean {
    return [...this.folderUploads].some((root) => isInside(where, root))
  }

  /**
   * Why the technician may learn the hash of the file at `where`, or undefined when they may not:
   * the end user let them read it (a download, or inside a folder download), this session wrote
   * it, or it is the partial file of an upload the end user allowed in this session.
   */
  hashable(where: string): HashGrant | undefined {
    const read = this.readable.get(where)
    if (read) return { why: 'read', identity: read }
    if ([...this.folderReads].some((root) => isInside(where, root))) return { why: 'read' }
    const written = this.written.get(where)
    if (written) return { why: 'written', identity: written }
    if (this.partials.has(where)) return { why: 'partial' }
    return undefined
  }

  expect(target: string, expectation: Expectation): void {
    if (this.expectations.size >= MAX_ENTRIES) this.expectations.clear()
    this.expectations.set(target, expectation)
  }

  /** The expectation for an upload to `target`, used once: the next upload needs its own. */
  takeExpectation(target: string): Expectation | undefined {
    const expectation = this.expectations.get(target)
    this.expectations.delete(target)
    return expectation
  }

  /** How a transfer ended; `mixed` for an upload that began as a copy of the end user's file. */
  record(where: string, outcome: TransferOutcome, mixed = false): void {
    if (this.outcomes.size >= MAX_ENTRIES) this.outcomes.clear()
    this.outcomes.set(where, { ...outcome, mixed })
  }

  /**
   * How the last transfer of `where` ended, if there was one in this session. An upload that
   * began from the end user's own file hashed their bytes too: its hash is told only to a
   * technician who was let read that file.
   */
  outcome(where: string): TransferOutcome | 'not-yours' | undefined {
    const found = this.outcomes.get(where)
    if (!found) return undefined
    const { mixed, ...outcome } = found
    if (mixed && this.readable.get(where) === undefined) return 'not-yours'
    return outcome
  }
}

/** True when `stats` is still the file `identity` was taken of. */
export function sameFile(identity: FileIdentity, stats: Stats): boolean {
  return (
    identity.dev === stats.dev &&
    identity.ino === stats.ino &&
    (identity.size === undefined || identity.size === stats.size) &&
    (identity.mtimeMs === undefined || identity.mtimeMs === stats.mtimeMs)
  )
}

function identityOf(stats: Stats): FileIdentity {
  // A folder's size and times change with what is put in it; a file's only when it is changed.
  if (stats.isDirectory()) return { dev: stats.dev, ino: stats.ino }
  return { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs }
}

function remember<T>(map: Map<string, T>, key: string, value: T): void {
  if (map.size >= MAX_ENTRIES && !map.has(key)) map.clear()
  map.set(key, value)
}
