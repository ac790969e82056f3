import type { FileHandle } from 'node:fs/promises'

/** Writes `buffers` one after the other from `position`, however short each writev comes back. */
export async function writeAll(file: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers
  while (rest.length > 0) {
    let { bytesWritten } = await file.writev(rest, position)
    position += bytesWritten
    while (rest.length > 0 && bytesWritten >= rest[0]!.length) {
      bytesWritten -= rest[0]!.length
      rest = rest.slice(1)
    }
    if (rest.length > 0 && bytesWritten > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)]
  }
}
