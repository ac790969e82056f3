/**
 * The host's side of the `transfer@rescue` subsystem (see protocol.ts). Opening it needs no
 * consent: a folder transfer (`plan`) asks the end user before anything in it happens, and a hash
 * is a read, so `hash` and `result` answer only for what the end user let the technician read (a
 * download, a folder download) or what the technician wrote itself (see TransferLedger.hashable).
 * Anything else is refused unasked, and the refusal goes to the end user's view and audit log.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import type { ServerChannel } from 'ssh2'
import { refusalMessage, type ConsentOutcome, type FileScope, type Permission } from '../consent/index.js'
import { formatSize } from '../text/size.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { followed, parentFollowed } from './host-paths.js'
import { sameFile, type HashGrant, type TransferLedger } from './ledger.js'
import {
  decodeLine,
  LineReader,
  transferRequest,
  type TransferAnswer,
  type TransferRequest,
} from './protocol.js'

export interface TransferServiceOptions {
  ledger: TransferLedger
  /** Where relative paths start: the end user's home folder. */
  home: string
  ask(
    permission: Permission,
    summary: string,
    detail: string,
    withdrawn: AbortSignal,
    scope: FileScope,
    /** Other permissions the request needs: the policy must allow them too, before anyone is asked. */
    needs?: Permission[],
  ): Promise<ConsentOutcome>
  /** Lets the requests of an allowed folder transfer through unasked until `until` aborts. */
  grantTransfer(permissions: Permission[], folder: string, until: AbortSignal): void
  /** Refuses a request that no prompt covers, for the end user's view and audit log. */
  refuse(what: string): void
}

// Counting a folder for the prompt stops here: the end user sees "more than" instead of waiting.
const COUNT_LIMIT = { entries: 100_000, ms: 2000 }
const { O_RDONLY } = fs.constants
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0

/** Answers transfer requests on `channel` until it closes; bad input closes it, never throws. */
export function serveTransfer(channel: ServerChannel, options: TransferServiceOptions): void {
  const closed = new AbortController()
  const reader = new LineReader()
  let queue = Promise.resolve()
  const send = (answer: TransferAnswer) => {
    if (!closed.signal.aborted) channel.write(`${JSON.stringify(answer)}\n`)
  }
  channel.on('data', (chunk: Buffer) => {
    let lines: string[]
    try {
      lines = reader.push(chunk)
    } catch {
      return channel.close()
    }
    for (const line of lines) {
      const request = decodeLine(transferRequest, line)
      if (!request) return channel.close()
      // One at a time, in order: an expect must be in place before the close it precedes.
      queue = queue
        .then(() => answer(request, options, closed.signal))
        .then(send, (error: unknown) => send({ id: request.id, ok: false, error: message(error) }))
    }
  })
  channel.stderr.on('error', () => {})
  channel.on('error', () => {})
  channel.on('end', () => channel.end())
  channel.once('close', () => closed.abort())
}

async function answer(
  request: TransferRequest,
  options: TransferServiceOptions,
  closed: AbortSignal,
): Promise<TransferAnswer> {
  const requested = (where: string) => {
    if (where.includes('\0')) throw new Error('a path cannot contain NUL')
    return path.resolve(options.home, where)
  }
  switch (request.op) {
    case 'plan': {
      const root = await followed(requested(request.root))
      const permissions: Permission[] =
        request.direction === 'to-host' ? ['files.send', 'files.browse'] : ['files.receive', 'files.browse']
      const outcome = await askForFolder(request, root, options, closed, permissions)
      if (!outcome.allowed) {
        const { permission, by, seconds } = outcome
        const refusal = { permission, by, ...(seconds !== undefined ? { seconds } : {}) }
        return { id: request.id, ok: false, error: refusalMessage(refusal), denied: true, refusal }
      }
      options.grantTransfer(permissions, root, closed)
      options.ledger.notePlan(request.direction, root, closed)
      return { id: request.id, ok: true }
    }
    case 'expect': {
      options.ledger.expect(await parentFollowed(requested(request.path)), {
        size: request.size,
        sha256: request.sha256,
      })
      return { id: request.id, ok: true }
    }
    case 'result': {
      const where = requested(request.path)
      const outcome =
        options.ledger.outcome(await parentFollowed(where)) ?? options.ledger.outcome(await followed(where))
      if (!outcome) return { id: request.id, ok: false, error: 'no transfer of that file in this session' }
      if (outcome === 'not-yours') {
        // An upload that began as a copy of the end user's file: its hash is of their bytes too.
        return refusal(
          request.id,
          options,
          `the SHA-256 of ${show(where)}`,
          'it holds bytes of the file that was there',
        )
      }
      return { id: request.id, ok: true, ...outcome }
    }
    case 'hash': {
      const where = requested(request.path)
      let changed = false
      for (const candidate of new Set([await followed(where), await parentFollowed(where)])) {
        const grant = options.ledger.hashable(candidate)
        if (!grant) continue
        const hashed = await hashPrefix(candidate, request.length, grant)
        if (hashed) return { id: request.id, ok: true, ...hashed }
        changed = true
      }
      return refusal(
        request.id,
        options,
        `the SHA-256 of ${show(where)}`,
        changed
          ? 'the file changed since the technician read or wrote it'
          : 'the end user did not let the technician read it, and this session did not write it',
      )
    }
  }
}

function askForFolder(
  request: Extract<TransferRequest, { op: 'plan' }>,
  root: string,
  options: TransferServiceOptions,
  closed: AbortSignal,
  needs: Permission[],
): Promise<ConsentOutcome> {
  const name = show(path.basename(root), 100)
  const where = show(path.dirname(root))
  const scope = { path: root, folder: root }
  if (request.direction === 'to-host') {
    const counts =
      request.files !== undefined && request.bytes !== undefined
        ? ` (${plural(request.files, 'file')}, ${formatSize(request.bytes)})`
        : ''
    return options.ask(
      'files.send',
      `put a folder on this computer: ${name}${counts} into ${where}`,
      root,
      closed,
      scope,
      needs,
    )
  }
  return countTree(root).then((counted) =>
    options.ask(
      'files.receive',
      `copy a folder and everything in it from this computer: ${name} (${counted}) from ${where}`,
      root,
      closed,
      scope,
      needs,
    ),
  )
}

/** "12 files, 3.4 MiB", as far as a bounded walk gets. */
async function countTree(root: string): Promise<string> {
  const deadline = Date.now() + COUNT_LIMIT.ms
  let files = 0
  let bytes = 0
  let entries = 0
  const folders = [root]
  while (folders.length > 0) {
    if (entries > COUNT_LIMIT.entries || Date.now() > deadline) {
      return `more than ${plural(files, 'file')}, ${formatSize(bytes)}`
    }
    const folder = folders.pop()!
    const listed = await fsp.readdir(folder, { withFileTypes: true }).catch(() => [])
    for (const entry of listed) {
      entries++
      if (entry.isDirectory()) folders.push(path.join(folder, entry.name))
      else if (entry.isFile()) {
        files++
        bytes += (await fsp.lstat(path.join(folder, entry.name)).catch(() => undefined))?.size ?? 0
      }
    }
  }
  return `${plural(files, 'file')}, ${formatSize(bytes)}`
}

/** Refuses unasked: the end user's view and audit log say what and why, and so does the answer. */
function refusal(id: number, options: TransferServiceOptions, what: string, why: string): TransferAnswer {
  options.refuse(`${what}: ${why}`)
  return { id, ok: false, error: `refused ${what}: ${why}` }
}

/**
 * SHA-256 of a regular file's first `length` bytes (fewer when it is shorter); undefined when the
 * file is no longer the one `grant` was given for.
 */
async function hashPrefix(
  file: string,
  length: number,
  grant: HashGrant,
): Promise<{ bytes: number; sha256: string } | undefined> {
  const handle = await fsp.open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
  try {
    const stats = await handle.stat()
    if (!stats.isFile()) throw new Error('not a regular file')
    // Checked on the open file: a file swapped in after the check is not the one hashed.
    if (grant.why !== 'partial' && grant.identity && !sameFile(grant.identity, stats)) return undefined
    const hash = createHash('sha256')
    const buffer = Buffer.allocUnsafe(1024 * 1024)
    let done = 0
    while (done < length) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - done), done)
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
      done += bytesRead
    }
    return { bytes: done, sha256: hash.digest('hex') }
  } finally {
    await handle.close()
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`
}

function show(text: string, maxLength = 200): string {
  return sanitizeForTerminal(text, maxLength)
}

function message(error: unknown): string {
  const code = (error as { code?: unknown }).code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EACCES' || code === 'EPERM') return "the end user's account may not read that file"
  return show(error instanceof Error ? error.message : String(error))
}
