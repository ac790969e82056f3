import { writevSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'

/** Writes `buffers` one after the other from `position`, however short each writev comes back. */
export async function writeAll(file: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers
  while (rest.length > 0) {
    const { bytesWritten } = await file.writev(rest, position)
    position += bytesWritten
    rest = unwritten(rest, bytesWritten)
  }
}

/** `writeAll` made at once, for the few KiB of a small file (AT_ONCE_BYTES). */
export function writeAllNow(fd: number, buffers: Buffer[], position: number): void {
  let rest = buffers
  while (rest.length > 0) {
    const bytesWritten = writevSync(fd, rest, position)
    position += bytesWritten
    rest = unwritten(rest, bytesWritten)
  }
}

/** What is left of `buffers` after a writev took `bytesWritten` of them. */
function unwritten(buffers: Buffer[], bytesWritten: number): Buffer[] {
  let rest = buffers
  while (rest.length > 0 && bytesWritten >= rest[0]!.length) {
    bytesWritten -= rest[0]!.length
    rest = rest.slice(1)
  }
  if (rest.length > 0 && bytesWritten > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)]
  return rest
}
