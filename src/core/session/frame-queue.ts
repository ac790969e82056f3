/** Binary frames from the peer, waited for one at a time by the handshake, with a deadline. */
export class FrameQueue {
  private readonly frames: Uint8Array[] = []
  private waiter?: { resolve: (frame: Uint8Array) => void; reject: (error: Error) => void }
  private failure?: Error

  push(frame: Uint8Array): void {
    if (this.waiter) {
      const { resolve } = this.waiter
      this.waiter = undefined
      resolve(frame)
    } else this.frames.push(frame)
  }

  /** Takes every frame that arrived and was not waited for yet. */
  drain(): Uint8Array[] {
    return this.frames.splice(0)
  }

  /** Makes every pending and later `next()` fail, e.g. when the connection closes. */
  fail(error: Error): void {
    this.failure = error
    this.waiter?.reject(error)
    this.waiter = undefined
  }

  /** The next frame; without `timeout` it waits as long as the connection lasts. */
  next(timeout?: { ms: number; error: () => Error }): Promise<Uint8Array> {
    const queued = this.frames.shift()
    if (queued) return Promise.resolve(queued)
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      const timer =
        timeout &&
        setTimeout(() => {
          this.waiter = undefined
          reject(timeout.error())
        }, timeout.ms)
      this.waiter = {
        resolve: (frame) => (clearTimeout(timer), resolve(frame)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      }
    })
  }
}
