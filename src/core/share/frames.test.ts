import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  encodeKeys,
  encodeOutput,
  encodeSize,
  MAX_FRAME_PAYLOAD,
  ViewFrameDecoder,
  ViewFrameError,
  type ViewFrame,
} from './frames.js'

const frame = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((keys): ViewFrame => ({ type: 'keys', keys: Buffer.from(keys) })),
  fc
    .record({ cols: fc.integer({ min: 1, max: 0xffff }), rows: fc.integer({ min: 1, max: 0xffff }) })
    .map(({ cols, rows }): ViewFrame => ({ type: 'size', cols, rows })),
)
const encode = (f: ViewFrame) =>
  f.type === 'keys'
    ? encodeKeys(f.keys)
    : f.type === 'size'
      ? encodeSize(f.cols, f.rows)
      : encodeOutput(f.data)

describe('view frames', () => {
  it('decodes what was encoded, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(frame, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (frames, cuts) => {
          const bytes = Buffer.concat(frames.map(encode))
          const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
          const decoder = new ViewFrameDecoder()
          const decoded: ViewFrame[] = []
          let start = 0
          for (const point of [...points, bytes.length]) {
            decoded.push(...decoder.feed(bytes.subarray(start, point)))
            start = point
          }
          expect(decoded).toEqual(frames)
        },
      ),
    )
  })

  it('throws a ViewFrameError, never anything else, on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          new ViewFrameDecoder().feed(bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(ViewFrameError)
        }
      }),
    )
  })

  it('refuses an oversize frame at its header, before its payload arrives', () => {
    const header = Buffer.from([1, 0, 0, 0, 0])
    header.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 1)
    expect(() => new ViewFrameDecoder().feed(header)).toThrow(ViewFrameError)
    expect(() => new ViewFrameDecoder().feed(Buffer.from([9, 0, 0, 0, 0]))).toThrow(/unknown frame type 9/)
  })

  it("cuts a presenter's output into frames a present channel decodes whole, and a view channel refuses", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3 * MAX_FRAME_PAYLOAD }), (data) => {
        const decoded = new ViewFrameDecoder(['output', 'size']).feed(encodeOutput(data))
        const joined = Buffer.concat(decoded.map((f) => (f.type === 'output' ? f.data : Buffer.alloc(0))))
        expect(joined.equals(Buffer.from(data))).toBe(true)
        expect(decoded.every((f) => f.type === 'output')).toBe(true)
        if (data.length > 0)
          expect(() => new ViewFrameDecoder().feed(encodeOutput(data))).toThrow(/unknown frame type 3/)
      }),
      { numRuns: 30 },
    )
    // A present channel takes no keys: nothing typed travels that way.
    expect(() => new ViewFrameDecoder(['output', 'size']).feed(encodeKeys(Buffer.from('x')))).toThrow(
      ViewFrameError,
    )
  })
})
