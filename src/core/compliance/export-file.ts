/**
 * Writes an export (personal data, decrypted) the only safe way: 0600 from the first byte, to a
 * temporary file beside the target, flushed, then renamed over it. A failure leaves the target as
 * it was and no temporary file behind.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { UserError } from '../errors.js'

export function writePrivateFileAtomic(target: string, text: string): string {
  const file = path.resolve(target)
  const temporary = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`,
  )
  let fd: number | undefined
  try {
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) {
      throw new UserError('usage', `${target} is a folder`, 'give a file name, like export.json')
    }
    fd = fs.openSync(temporary, 'wx', 0o600)
    fs.writeFileSync(fd, text)
    fs.fsyncSync(fd)
    fs.closeSync(fd)
    fd = undefined
    fs.renameSync(temporary, file)
    // A rename keeps the temporary file's mode, but a umask can only have narrowed it: make sure.
    fs.chmodSync(file, 0o600)
    return file
  } catch (error) {
    if (fd !== undefined) fs.closeSync(fd)
    fs.rmSync(temporary, { force: true })
    if (error instanceof UserError) throw error
    throw new UserError(
      'failure',
      `cannot write ${target}: ${(error as Error).message}`,
      'give a writable path with -o',
    )
  }
}
