/**
 * ssh's escape sequences on the technician's keyboard: `~` right after Enter (or as the very first
 * key) starts one. `~.` leaves the session, `~?` lists the escapes, `~~` sends one `~`; any other
 * key after `~` sends both, as ssh does.
 */

export type EscapeAction = 'disconnect' | 'help'

export interface FilteredInput {
  /** The bytes to send to the remote shell. */
  forward: Buffer
  /** What the keys asked for, in order; nothing after a disconnect is forwarded. */
  actions: EscapeAction[]
}

const TILDE = 0x7e
const CR = 0x0d
const LF = 0x0a

export const ESCAPE_HELP = [
  'Supported escape sequences (after Enter):',
  ' ~.  - leave the session',
  ' ~?  - this message',
  ' ~~  - send the escape character by typing it twice',
].join('\r\n')

export class EscapeFilter {
  private atLineStart = true
  private afterTilde = false

  feed(chunk: Uint8Array): FilteredInput {
    const forward: number[] = []
    const actions: EscapeAction[] = []
    for (const byte of chunk) {
      if (this.afterTilde) {
        this.afterTilde = false
        if (byte === 0x2e /* . */) {
          actions.push('disconnect')
          break
        }
        if (byte === 0x3f /* ? */) {
          actions.push('help')
          this.atLineStart = true
          continue
        }
        if (byte !== TILDE) forward.push(TILDE)
        forward.push(byte)
        this.atLineStart = byte === CR || byte === LF
        continue
      }
      if (byte === TILDE && this.atLineStart) {
        this.afterTilde = true
        continue
      }
      forward.push(byte)
      this.atLineStart = byte === CR || byte === LF
    }
    return { forward: Buffer.from(forward), actions }
  }
}
