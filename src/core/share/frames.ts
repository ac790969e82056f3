/**
 * What the technician sends on a `view@rescue` channel: frames of keys (which reach the end
 * user's shared terminal only while the end user lets them, see `control`) and of window sizes
 * (the smallest window wins). A frame is one type byte, a 32-bit big-endian length, the payload.
 * Host to technician is the terminal's raw output, unframed. `present@rescue` uses the same frames
 * the other way: the technician's terminal output, and the end user's window size back.
 * Imports nothing of ours.
 */

export const FRAME_KEYS = 0x01
export const FRAME_SIZE = 0x02
/** A presenting technician's terminal output (`present@rescue`). */
export const FRAME_OUTPUT = 0x03
/** Keys a person types (or pastes) at once: far more than that is not typing. */
export const MAX_FRAME_PAYLOAD = 16 * 1024
const HEADER = 5

export type ViewFrame =
  | { type: 'keys'; keys: Buffer }
  | { type: 'size'; cols: number; rows: number }
  | { type: 'output'; data: Buffer }

const TYPES = { keys: FRAME_KEYS, size: FRAME_SIZE, output: FRAME_OUTPUT } as const

export function encodeKeys(keys: Uint8Array): Buffer {
  const header = Buffer.alloc(HEADER)
  header[0] = FRAME_KEYS
  header.writeUInt32BE(keys.length, 1)
  return Buffer.concat([header, keys])
}

/** Terminal output, cut into frames of at most MAX_FRAME_PAYLOAD bytes. */
export function encodeOutput(data: Uint8Array): Buffer {
  const frames: Buffer[] = []
  for (let at = 0; at < data.length; at += MAX_FRAME_PAYLOAD) {
    const part = data.subarray(at, at + MAX_FRAME_PAYLOAD)
    const header = Buffer.alloc(HEADER)
    header[0] = FRAME_OUTPUT
    header.writeUInt32BE(part.length, 1)
    frames.push(header, Buffer.from(part))
  }
  return Buffer.concat(frames)
}

export function encodeSize(cols: number, rows: number): Buffer {
  const frame = Buffer.alloc(HEADER + 4)
  frame[0] = FRAME_SIZE
  frame.writeUInt32BE(4, 1)
  frame.writeUInt16BE(clampSize(cols), HEADER)
  frame.writeUInt16BE(clampSize(rows), HEADER + 2)
  return frame
}

function clampSize(value: number): number {
  return Math.min(Math.max(Math.floor(value) || 1, 1), 0xffff)
}

/** Thrown for bytes that are no frame: the channel is closed, the frames before it stand. */
export class ViewFrameError extends Error {}

/** Cuts a byte stream into frames; throws ViewFrameError on an unknown type or an oversize frame. */
export class ViewFrameDecoder {
  private buffered: Buffer = Buffer.alloc(0)
  private readonly accepted: Set<number>

  /** `accepts`: the frame types this channel carries (a view's keys and sizes by default). */
  constructor(accepts: readonly ViewFrame['type'][] = ['keys', 'size']) {
    this.accepted = new Set(accepts.map((type) => TYPES[type]))
  }

  feed(chunk: Uint8Array): ViewFrame[] {
    this.buffered = this.buffered.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffered, chunk])
    const frames: ViewFrame[] = []
    while (this.buffered.length >= HEADER) {
      const type = this.buffered[0]!
      const length = this.buffered.readUInt32BE(1)
      if (!this.accepted.has(type)) throw new ViewFrameError(`unknown frame type ${type}`)
      if (length > MAX_FRAME_PAYLOAD) throw new ViewFrameError(`a frame of ${length} bytes`)
      if (type === FRAME_SIZE && length !== 4) throw new ViewFrameError(`a size frame of ${length} bytes`)
      if (this.buffered.length < HEADER + length) break
      const payload = this.buffered.subarray(HEADER, HEADER + length)
      this.buffered = this.buffered.subarray(HEADER + length)
      if (type === FRAME_KEYS) frames.push({ type: 'keys', keys: Buffer.from(payload) })
      else if (type === FRAME_OUTPUT) frames.push({ type: 'output', data: Buffer.from(payload) })
      else {
        const cols = payload.readUInt16BE(0)
        const rows = payload.readUInt16BE(2)
        if (cols === 0 || rows === 0) throw new ViewFrameError('a window of no size')
        frames.push({ type: 'size', cols, rows })
      }
    }
    return frames
  }
}
