/**
 * What of a presenting technician's output may reach the end user's terminal. Text, colours,
 * cursor moves and screen modes pass (that is the point of showing a terminal); the escape
 * strings a terminal acts on beyond drawing are dropped: OSC (OSC 52 writes the clipboard, which
 * needs `clipboard`; OSC 8 links; titles; palette changes), DCS, SOS, PM and APC. The state is
 * kept across chunks, so a string cut in two is dropped whole. Imports nothing of ours.
 */

const ESC = 0x1b
const BEL = 0x07
/** ESC followed by one of these opens a string that runs until ST (ESC \) or, for OSC, BEL. */
const STRING_OPENERS = new Set([
  0x5d /* ] OSC */, 0x50 /* P DCS */, 0x58 /* X SOS */, 0x5e /* ^ PM */, 0x5f /* _ APC */,
])

type State = 'text' | 'escape' | 'string' | 'string-escape'

export class PresentOutputFilter {
  private state: State = 'text'

  /** The bytes of `chunk` that may be drawn. */
  feed(chunk: Uint8Array): Buffer {
    const out: number[] = []
    for (const byte of chunk) {
      switch (this.state) {
        case 'text':
          if (byte === ESC) this.state = 'escape'
          else out.push(byte)
          break
        case 'escape':
          if (STRING_OPENERS.has(byte)) this.state = 'string'
          else {
            this.state = byte === ESC ? 'escape' : 'text'
            out.push(ESC)
            if (byte !== ESC) out.push(byte)
          }
          break
        case 'string':
          if (byte === BEL) this.state = 'text'
          else if (byte === ESC) this.state = 'string-escape'
          break
        case 'string-escape':
          // ST ends it; anything else after ESC inside a string is still the string.
          this.state = byte === 0x5c ? 'text' : byte === ESC ? 'string-escape' : 'string'
          break
      }
    }
    return Buffer.from(out)
  }
}
