import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeOrder, decodeReply } from './transfers.js'

const hash = 'b'.repeat(64)
const file = {
  local: 'a.txt',
  remote: '/tmp/a.txt',
  bytes: 3,
  sha256: hash,
  resumedFrom: 0,
  moved: 3,
  seconds: 0.1,
}

describe('the control socket’s transfer lines', () => {
  it('decodes a well-formed order and each event, and nothing else', () => {
    const order = {
      op: 'transfer',
      direction: 'get',
      from: 'x',
      to: 'y/',
      recursive: true,
      resume: false,
      cwd: '/home/t',
    }
    expect(decodeOrder(JSON.stringify(order))).toEqual(order)
    for (const bad of [
      { ...order, direction: 'sideways' },
      { ...order, from: '' },
      { ...order, cwd: 'a\0b' },
      { ...order, resume: 'yes' },
      { ...order, op: 'exec' },
    ])
      expect(decodeOrder(JSON.stringify(bad))).toBeUndefined()
    expect(decodeOrder('not json')).toBeUndefined()

    expect(decodeReply('{"event":"progress","bytes":5}')).toEqual({ event: 'progress', bytes: 5 })
    expect(decodeReply(JSON.stringify({ event: 'done', files: [file] }))).toEqual({
      event: 'done',
      files: [file],
    })
    expect(decodeReply('{"event":"error","code":"denied","message":"no"}')).toMatchObject({ code: 'denied' })
    for (const bad of [
      '{"event":"progress","bytes":-1}',
      '{"event":"error","code":"nonsense","message":"no"}',
      JSON.stringify({ event: 'done', files: [{ ...file, sha256: 'zz' }] }),
      JSON.stringify({ event: 'done', files: [{ ...file, bytes: 1.5 }] }),
      '[]',
      'null',
    ])
      expect(decodeReply(bad)).toBeUndefined()
  })

  it('never throws on arbitrary lines or JSON values', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((value) => JSON.stringify(value)),
        ),
        (line) => {
          decodeOrder(line)
          decodeReply(line)
        },
      ),
    )
  })
})
