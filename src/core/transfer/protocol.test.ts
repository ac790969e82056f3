import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeLine, LineReader, MAX_LINE_BYTES, transferAnswer, transferRequest } from './protocol.js'

describe('transfer@rescue lines', () => {
  it('decodes a request and an answer of the right shape, and nothing else', () => {
    const hash = 'a'.repeat(64)
    expect(
      decodeLine(transferRequest, `{"id":1,"op":"expect","path":"/tmp/x","size":3,"sha256":"${hash}"}`),
    ).toEqual({ id: 1, op: 'expect', path: '/tmp/x', size: 3, sha256: hash })
    expect(decodeLine(transferAnswer, '{"id":2,"ok":false,"error":"no","denied":true}')).toMatchObject({
      denied: true,
    })
    for (const bad of [
      '{"id":1,"op":"expect","path":"/tmp/x","size":-1,"sha256":"' + hash + '"}',
      '{"id":1,"op":"expect","path":"/tmp/x","size":1,"sha256":"XYZ"}',
      '{"id":1,"op":"rm","path":"/"}',
      '{"id":1,"op":"hash","path":"","length":1}',
      'not json',
      '[]',
    ]) {
      expect(decodeLine(transferRequest, bad)).toBeUndefined()
    }
  })

  it('never throws on arbitrary input: hostile bytes decode to undefined or a valid value', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (line) => {
        const request = decodeLine(transferRequest, line)
        if (request) expect(transferRequest.safeParse(request).success).toBe(true)
        const answer = decodeLine(transferAnswer, line)
        if (answer) expect(transferAnswer.safeParse(answer).success).toBe(true)
      }),
    )
  })

  it('splits lines across chunks, a character cut between two chunks included', () => {
    const reader = new LineReader()
    const text = Buffer.from('{"a":"é"}\n{"b":1}\n')
    const cut = text.indexOf(0xa9) // the second byte of é
    expect(reader.push(text.subarray(0, cut))).toEqual([])
    expect(reader.push(text.subarray(cut))).toEqual(['{"a":"é"}', '{"b":1}'])
  })

  it('refuses a line longer than the limit, with or without its newline', () => {
    expect(() => new LineReader().push(Buffer.alloc(MAX_LINE_BYTES + 1, 0x61))).toThrow('too long')
    expect(() => new LineReader().push(Buffer.from(`${'a'.repeat(MAX_LINE_BYTES + 1)}\n`))).toThrow(
      'too long',
    )
  })
})
