/**
 * `rescue send` and `rescue get` as requests to the live `rescue connect`, which runs the copy on
 * its own SSH connection to the end user's computer. The control socket carries the request and
 * the progress, one JSON object per line each way; the file's bytes cross one SSH connection, not
 * a second one bridged into the first (issue 12: that doubled the crypto on this machine).
 *
 * The socket is the same one `rescue sysinfo` and `chat` reach with SSH: a connection whose first
 * byte is `{` is one of these requests (see startControlSocket). It is ours alone (0600 in a 0700
 * folder), so connect reads and writes local files with the same rights `rescue send` has; the
 * paths are taken relative to the folder `rescue send` ran in. Consent is the host's, as before:
 * nothing moves before the end user allows it. Imports core only.
 */
import net from 'node:net'
import { StringDecoder } from 'node:string_decoder'
import type ssh2 from 'ssh2'
import type { Permission } from '../consent/types.js'
import { ExitCode, UserError, type ErrorCode } from '../errors.js'
import type { CopyEvents, FileCopied } from '../transfer/copy.js'

export interface TransferOrder {
  direction: 'send' | 'get'
  from: string
  to: string
  recursive: boolean
  resume: boolean
}

/** What the client sends: the order and the folder its local paths start in. */
interface TransferMessage extends TransferOrder {
  op: 'transfer'
  cwd: string
}

/** What connect answers, in order: events, then exactly one `done` or `error`. */
type TransferReply =
  | { event: 'file'; name: string; size: number }
  | { event: 'progress'; bytes: number }
  | { event: 'notice'; text: string }
  | { event: 'done'; files: FileCopied[] }
  | { event: 'error'; code: ErrorCode; message: string; hint?: string }

/** The longest line either side takes: a request holds two paths, a reply a tree's file list. */
const MAX_REQUEST_BYTES = 64 * 1024
const MAX_REPLY_BYTES = 256 * 1024 * 1024
/** Progress lines at most this often: the bar redraws every 100 ms anyway. */
const PROGRESS_MS = 50

const FILE_PERMISSIONS: Permission[] = ['files.send', 'files.receive', 'files.browse', 'files.modify']

/** Opens file access on the session's SSH connection (copy.ts, loaded only when a copy is asked for). */
async function openTransfers(upstream: ssh2.Client, cwd: string) {
  const { Transfers } = await import('../transfer/copy.js')
  return Transfers.open(upstream, cwd)
}

/**
 * Serves one transfer request on `socket` (connect's side): checks the gateway's policy, runs the
 * copy on `upstream`, tells progress, and answers once. The socket closing (Ctrl-C on `rescue
 * send`) closes the copy's channels, so the host keeps the partial file for `--resume`.
 */
export function serveTransferRequest(
  socket: net.Socket,
  upstream: ssh2.Client,
  check: (permissions: Permission[]) => Promise<void>,
): void {
  let gone = false
  let closeCopy: (() => void) | undefined
  const reply = (message: TransferReply) => {
    if (!gone) socket.write(`${JSON.stringify(message)}\n`)
  }
  socket.on('error', () => socket.destroy())
  socket.on('close', () => {
    gone = true
    closeCopy?.()
  })
  readLines(socket, MAX_REQUEST_BYTES, (line) => {
    const order = decodeOrder(line)
    if (!order) {
      reply({ event: 'error', code: 'failure', message: 'rescue connect did not understand the request' })
      socket.end()
      return false
    }
    void run(order)
      .then(
        (files) => reply({ event: 'done', files }),
        (error: unknown) => reply(errorReply(error)),
      )
      .finally(() => socket.end())
    return false
  }).catch(() => socket.destroy())

  async function run(order: TransferMessage): Promise<FileCopied[]> {
    await check(FILE_PERMISSIONS)
    const transfers = await openTransfers(upstream, order.cwd)
    closeCopy = () => transfers.close()
    if (gone) transfers.close()
    let told = 0
    let pending: number | undefined
    const flush = () => {
      if (pending === undefined) return
      reply({ event: 'progress', bytes: pending })
      pending = undefined
      told = performance.now()
    }
    const events: CopyEvents = {
      onFile(name, size) {
        flush()
        reply({ event: 'file', name, size })
      },
      onProgress(bytes) {
        pending = bytes
        // The first report says the end user allowed the file: it goes out at once.
        if (told === 0 || performance.now() - told >= PROGRESS_MS) flush()
      },
      onNotice(text) {
        flush()
        reply({ event: 'notice', text })
      },
    }
    try {
      const options = { resume: order.resume, ...events }
      const files =
        order.direction === 'send'
          ? order.recursive
            ? await transfers.sendTree(order.from, order.to, options)
            : [await transfers.sendFile(order.from, order.to, options)]
          : order.recursive
            ? await transfers.getTree(order.from, order.to, options)
            : [await transfers.getFile(order.from, order.to, options)]
      flush()
      return files
    } finally {
      transfers.close()
    }
  }
}

/**
 * Asks the live `rescue connect` at `socketPath` to run a copy, relays its events, and resolves
 * with the files once both hashes agreed; rejects with the UserError connect gave.
 */
export function requestTransfer(
  socketPath: string,
  order: TransferOrder,
  events: CopyEvents,
  /** Aborting closes the socket: connect stops the copy and the host keeps what arrived. */
  signal?: AbortSignal,
): Promise<FileCopied[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath)
    signal?.addEventListener('abort', () => socket.destroy(), { once: true })
    let settled = false
    const settle = (error: Error | undefined, files?: FileCopied[]) => {
      if (settled) return
      settled = true
      socket.end()
      if (error) reject(error)
      else resolve(files!)
    }
    socket.on('error', (error) =>
      settle(
        new UserError(
          'connectionLost',
          `cannot reach the live session at ${socketPath}: ${error.message}`,
          'is its rescue connect still running?',
        ),
      ),
    )
    socket.on('close', () =>
      settle(new UserError('connectionLost', 'rescue connect stopped before the copy ended')),
    )
    const message: TransferMessage = {
      op: 'transfer',
      ...order,
      recursive: order.recursive === true,
      resume: order.resume === true,
      cwd: process.cwd(),
    }
    socket.write(`${JSON.stringify(message)}\n`)
    readLines(socket, MAX_REPLY_BYTES, (line) => {
      const reply = decodeReply(line)
      if (!reply) {
        settle(new UserError('failure', 'rescue connect sent something that is not a transfer event'))
        return false
      }
      switch (reply.event) {
        case 'file':
          events.onFile?.(reply.name, reply.size)
          return true
        case 'progress':
          events.onProgress?.(reply.bytes)
          return true
        case 'notice':
          events.onNotice?.(reply.text)
          return true
        case 'done':
          settle(undefined, reply.files)
          return false
        case 'error':
          settle(new UserError(reply.code, reply.message, reply.hint))
          return false
      }
    }).catch((error: Error) => settle(new UserError('failure', error.message)))
  })
}

/**
 * Calls `onLine` with each line of `socket` until it returns false or the socket ends; rejects
 * when a line grows past `limit` bytes.
 */
function readLines(socket: net.Socket, limit: number, onLine: (line: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8')
    let buffered = ''
    let reading = true
    const onData = (chunk: Buffer) => {
      buffered += decoder.write(chunk)
      for (let end = buffered.indexOf('\n'); reading && end >= 0; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end)
        buffered = buffered.slice(end + 1)
        if (!onLine(line)) reading = false
      }
      if (!reading) {
        socket.off('data', onData)
        return resolve()
      }
      if (buffered.length > limit) {
        socket.off('data', onData)
        reject(new Error('a line on the control socket is too long'))
      }
    }
    socket.on('data', onData)
    socket.once('end', () => resolve())
  })
}

/** A request line as connect reads it; undefined for anything but a well-formed transfer order. */
export function decodeOrder(line: string): TransferMessage | undefined {
  const value = parse(line)
  if (!value || value.op !== 'transfer') return undefined
  const { direction, from, to, recursive, resume, cwd } = value
  if (direction !== 'send' && direction !== 'get') return undefined
  if (!isText(from) || !isText(to) || !isText(cwd)) return undefined
  if (typeof recursive !== 'boolean' || typeof resume !== 'boolean') return undefined
  return { op: 'transfer', direction, from, to, recursive, resume, cwd }
}

/** A reply line as the command reads it; undefined for anything but a well-formed event. */
export function decodeReply(line: string): TransferReply | undefined {
  const value = parse(line)
  if (!value) return undefined
  switch (value.event) {
    case 'file':
      return isText(value.name) && isCount(value.size)
        ? { event: 'file', name: value.name, size: value.size }
        : undefined
    case 'progress':
      return isCount(value.bytes) ? { event: 'progress', bytes: value.bytes } : undefined
    case 'notice':
      return typeof value.text === 'string' ? { event: 'notice', text: value.text } : undefined
    case 'done':
      return Array.isArray(value.files) && value.files.every(isFileCopied)
        ? { event: 'done', files: value.files }
        : undefined
    case 'error': {
      const code = value.code
      if (typeof code !== 'string' || !(code in ExitCode) || typeof value.message !== 'string')
        return undefined
      return {
        event: 'error',
        code: code as ErrorCode,
        message: value.message,
        ...(typeof value.hint === 'string' ? { hint: value.hint } : {}),
      }
    }
    default:
      return undefined
  }
}

function errorReply(error: unknown): TransferReply {
  if (error instanceof UserError) {
    return {
      event: 'error',
      code: error.code,
      message: error.message,
      ...(error.hint !== undefined ? { hint: error.hint } : {}),
    }
  }
  const message = error instanceof Error ? error.message : String(error)
  return { event: 'error', code: 'failure', message: `rescue connect could not finish the copy: ${message}` }
}

function parse(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

function isFileCopied(value: unknown): value is FileCopied {
  if (typeof value !== 'object' || value === null) return false
  const file = value as Record<string, unknown>
  return (
    isText(file.local) &&
    isText(file.remote) &&
    typeof file.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(file.sha256) &&
    [file.bytes, file.moved, file.resumedFrom].every(isCount) &&
    typeof file.seconds === 'number' &&
    (file.skipped === undefined || typeof file.skipped === 'boolean')
  )
}

const isText = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= 4096 && !value.includes('\0')
const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
