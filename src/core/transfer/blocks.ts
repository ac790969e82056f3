/**
 * Bytes arriving on a stream, copied into a few reused blocks until they are written to disk.
 * Holding the SSH packets themselves across a disk write kept megabytes of them alive long enough
 * for V8 to move them to its old generation (and collect them there, at a cost); one copy into a
 * block that is used again is cheaper (issue 12).
 */
const BLOCK = 1024 * 1024

export class Blocks {
  private readonly spare: Buffer[] = []
  private readonly filled: Buffer[] = []
  private current?: Buffer
  private used = 0
  /** Bytes copied in and not taken yet. */
  waiting = 0

  add(chunk: Buffer): void {
    for (let at = 0; at < chunk.length;) {
      this.current ??= this.spare.pop() ?? Buffer.allocUnsafe(BLOCK)
      const copied = chunk.copy(this.current, this.used, at)
      at += copied
      this.used += copied
      this.waiting += copied
      if (this.used === this.current.length) {
        this.filled.push(this.current)
        this.current = undefined
        this.used = 0
      }
    }
  }

  /** Everything waiting, in order, to be written; give the blocks back with `release` once it is. */
  take(): Buffer[] {
    const taken = this.filled.splice(0)
    if (this.current && this.used > 0) {
      taken.push(this.current.subarray(0, this.used))
      this.current = undefined
      this.used = 0
    }
    this.waiting = 0
    return taken
  }

  /** Blocks `take` gave, written now: they take the next bytes. */
  release(blocks: Buffer[]): void {
    for (const block of blocks)
      if (this.spare.length < 8) this.spare.push(Buffer.from(block.buffer, block.byteOffset, BLOCK))
  }
}
