/**
 * The `file-stream@rescue` subsystem's shared parts: the header the technician sends, and the
 * files an SFTP handle of this SSH connection has open, which the stream may move bytes of.
 *
 * Bulk data goes through it instead of SFTP WRITE / READ requests (issue 12): one header, then the
 * bytes as they are, and for an upload one line back per MiB written instead of one status per
 * 192 KiB request. Everything else stays on SFTP and `transfer@rescue`: the OPEN asks the end
 * user and makes the partial file, CLOSE verifies, hashes, syncs and renames, and the transfer is
 * logged and reported as before. The stream only names an open handle, so it can reach no file
 * the end user did not allow, and its bytes are hashed and counted as the handle's own WRITEs and
 * READs are (sftp-server.ts).
 *
 * - `write`: `length` raw bytes follow the header, written from `offset`, which must be where the
 *   upload ends now. The host answers `{"written":N}` lines (bytes of this stream on disk) at least
 *   every MiB and at the end, then exit status 0.
 * - `read`: the host sends `length` raw bytes of the file from `offset`, then exit status 0.
 *
 * A failure is one line on the channel's stderr and exit status 1; the SFTP CLOSE that follows
 * then keeps the partial (nothing reaches the final name), as for a failed WRITE.
 */
import { z } from 'zod'

export { FILE_STREAM_SUBSYSTEM } from '../ssh/subsystems.js'

/** Longest header the host reads before giving up on the channel. */
export const MAX_HEADER_BYTES = 1024
/** An upload's host says how far it got at least this often (in bytes written). */
export const ACK_EVERY = 1024 * 1024

const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

export const streamHeader = z.object({
  op: z.enum(['write', 'read']),
  /** The SFTP handle, in hex, as the OPEN on this connection gave it. */
  handle: z.string().regex(/^[0-9a-f]{2,64}$/),
  offset: byteCount,
  length: byteCount,
})
export type StreamHeader = z.infer<typeof streamHeader>

/** An upload an SFTP handle has open. */
export interface StreamableUpload {
  kind: 'upload'
  /** False once the handle was closed, or its channel ended. */
  isOpen(): boolean
  /** Where the upload ends now: a stream must start there. */
  end(): number
  /** Writes `data` from `at` as the handle's WRITEs would: hashed, counted, after what is queued. */
  write(at: number, data: Buffer[]): Promise<void>
}

/** A file an SFTP handle has open for reading. */
export interface StreamableDownload {
  kind: 'download'
  isOpen(): boolean
  /** The file's size when it was opened. */
  size(): number
  /** Reads into `into` from `at` as the handle's READs would: hashed and counted; 0 at the end. */
  read(at: number, into: Buffer): Promise<number>
}

export type StreamableFile = StreamableUpload | StreamableDownload

/**
 * The files this SSH connection's SFTP channels have open, by handle. It gives out the handles, so
 * that two SFTP channels of one connection never hand out the same one.
 */
export class OpenFiles {
  private count = 0
  private readonly files = new Map<string, StreamableFile>()

  newHandle(): Buffer {
    const handle = Buffer.alloc(4)
    handle.writeUInt32BE(++this.count % 2 ** 32)
    return handle
  }

  add(handle: Buffer, file: StreamableFile): void {
    this.files.set(handle.toString('hex'), file)
  }

  remove(handle: string): void {
    this.files.delete(handle)
  }

  get(handle: string): StreamableFile | undefined {
    const file = this.files.get(handle)
    return file?.isOpen() ? file : undefined
  }
}
