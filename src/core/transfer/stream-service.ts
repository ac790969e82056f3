/**
 * The host's side of `file-stream@rescue` (see stream.ts): one header line, then one file's bytes
 * each way as a plain stream, into or out of a file an SFTP handle of this connection has open.
 * Bad input (a header that is not one, an unknown handle, a wrong offset, more bytes than said)
 * gets one line on stderr, exit status 1 and a close; it never throws.
 */
import type { ServerChannel } from 'ssh2'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { Blocks } from './blocks.js'
import { decodeLine } from './protocol.js'
import {
  ACK_EVERY,
  MAX_HEADER_BYTES,
  streamHeader,
  type OpenFiles,
  type StreamableDownload,
  type StreamableUpload,
  type StreamHeader,
} from './stream.js'

/** Read from disk this much at a time for a download, two blocks in turn (one read while one is sent). */
const READ_BLOCK = 1024 * 1024
/** An upload stops reading the channel while this much waits for the disk: SSH's window then holds the sender. */
const MAX_WAITING = 4 * 1024 * 1024

/** Serves one stream on `channel` until it closes. */
export function serveFileStream(channel: ServerChannel, openFiles: OpenFiles): void {
  let finished = false
  const finish = (error?: string) => {
    if (finished) return
    finished = true
    try {
      if (error !== undefined) channel.stderr.write(`${sanitizeForTerminal(error, 500)}\n`)
      channel.exit(error === undefined ? 0 : 1)
      channel.end()
    } catch {
      // The channel went away first.
    }
  }
  channel.on('error', () => {})
  channel.stderr.on('error', () => {})
  channel.once('close', () => {
    finished = true
  })
  let header = Buffer.alloc(0)
  const onHeader = (chunk: Buffer) => {
    header = Buffer.concat([header, chunk])
    const newline = header.indexOf(0x0a)
    if (newline < 0) {
      if (header.length > MAX_HEADER_BYTES) {
        channel.off('data', onHeader)
        finish('the stream must start with a header line')
      }
      return
    }
    channel.off('data', onHeader)
    const request = decodeLine(streamHeader, header.subarray(0, newline).toString('utf8'))
    const rest = header.subarray(newline + 1)
    if (!request) return finish('the stream must start with a header line')
    const file = openFiles.get(request.handle)
    if (!file) return finish('no file is open under that handle')
    if (request.op === 'write') {
      if (file.kind !== 'upload') return finish('that file is not open for writing')
      if (request.offset !== file.end())
        return finish(
          `wrong offset: the file has ${file.end()} bytes, the stream starts at ${request.offset}`,
        )
      return receive(channel, file, request, rest, finish, () => finished)
    }
    if (file.kind !== 'download') return finish('that file is not open for reading')
    if (rest.length > 0) return finish('nothing may follow the header of a read')
    if (request.offset + request.length > file.size()) {
      return finish(
        `the file has ${file.size()} bytes: it cannot give ${request.length} from ${request.offset}`,
      )
    }
    send(channel, file, request, finish, () => finished).catch(() => finish('the file could not be read'))
  }
  channel.on('data', onHeader)
}

/** An upload: the bytes after the header, written in order as they arrive, acknowledged every MiB. */
function receive(
  channel: ServerChannel,
  file: StreamableUpload,
  request: StreamHeader,
  first: Buffer,
  finish: (error?: string) => void,
  isFinished: () => boolean,
): void {
  let received = 0
  let written = 0
  let told = 0
  const waiting = new Blocks()
  let writing = false
  let ended = false
  const tell = () => {
    told = written
    channel.write(`${JSON.stringify({ written })}\n`)
  }
  const settle = () => {
    if (writing || isFinished()) return
    if (received === request.length && waiting.waiting === 0) {
      tell()
      return finish()
    }
    if (ended && waiting.waiting === 0)
      finish(`the stream ended after ${received} of ${request.length} bytes`)
  }
  const flush = () => {
    if (writing || waiting.waiting === 0 || isFinished()) return settle()
    if (!file.isOpen()) return finish('the file was closed')
    const bytes = waiting.waiting
    const batch = waiting.take()
    writing = true
    file.write(request.offset + written, batch).then(
      () => {
        writing = false
        waiting.release(batch)
        written += bytes
        if (written - told >= ACK_EVERY) tell()
        channel.resume()
        flush()
      },
      () => {
        writing = false
        finish('the file could not be written')
      },
    )
  }
  const take = (chunk: Buffer) => {
    if (isFinished() || chunk.length === 0) return
    if (received + chunk.length > request.length) {
      return finish(`more than the ${request.length} bytes the header said`)
    }
    received += chunk.length
    waiting.add(chunk)
    if (waiting.waiting >= MAX_WAITING) channel.pause()
    flush()
  }
  take(first)
  channel.on('data', take)
  channel.on('end', () => {
    ended = true
    settle()
  })
  settle()
}

/** A download: [offset, offset + length) of the file, read a block ahead of what SSH is sending. */
async function send(
  channel: ServerChannel,
  file: StreamableDownload,
  request: StreamHeader,
  finish: (error?: string) => void,
  isFinished: () => boolean,
): Promise<void> {
  const end = request.offset + request.length
  const blocks = [0, 1].map(() => Buffer.allocUnsafe(Math.min(READ_BLOCK, Math.max(request.length, 1))))
  // A block is read into again only once SSH has taken the bytes sent from it.
  const sent: Promise<void>[] = [Promise.resolve(), Promise.resolve()]
  let turn = 0
  for (let at = request.offset; at < end; turn ^= 1) {
    await sent[turn]
    if (isFinished()) return
    if (!file.isOpen()) return finish('the file was closed')
    const block = blocks[turn]!.subarray(0, Math.min(READ_BLOCK, end - at))
    const bytesRead = await file.read(at, block)
    if (bytesRead === 0) return finish('the file got shorter while it was read')
    at += bytesRead
    sent[turn] = new Promise((resolve) => channel.write(block.subarray(0, bytesRead), () => resolve()))
  }
  await Promise.all(sent)
  finish()
}
