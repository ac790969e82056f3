import fc from 'fast-check'
import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'

import {
  FrameType,
  MAX_SEALED_PLAINTEXT,
  PairingError,
  SealedChannel,
  createHostHandshake,
  createTechnicianHandshake,
  openJson,
  sealJson,
  type PairingErrorCode,
} from './index.js'

const text = (value: string) => new TextEncoder().encode(value)

function thrownCode(run: () => unknown): PairingErrorCode | 'nothing thrown' {
  try {
    run()
  } catch (error) {
    if (error instanceof PairingError) return error.code
    throw error
  }
  return 'nothing thrown'
}

function pair(): { technician: SealedChannel; host: SealedChannel } {
  const id = nacl.randomBytes(16)
  const technician = createTechnicianHandshake(id)
  const host = createHostHandshake(id)
  const { reveal, result } = technician.onHostKey(host.onCommit(technician.commit()))
  return { technician: result.channel, host: host.onReveal(reveal).channel }
}

function withCounter(frame: Uint8Array, counter: bigint): Uint8Array {
  const copy = frame.slice()
  new DataView(copy.buffer).setBigUint64(2, counter)
  return copy
}

describe('sealed channel', () => {
  it('lays a frame out as version, type, 8-byte counter, then the secretbox output', () => {
    const { technician } = pair()
    technician.seal(text('first'))
    const frame = technician.seal(text('second'))
    expect(frame.length).toBe(2 + 8 + 16 + 'second'.length)
    expect([...frame.subarray(0, 10)]).toEqual([1, FrameType.sealed, 0, 0, 0, 0, 0, 0, 0, 1])
  })

  it('rejects any single flipped byte, and still opens the genuine frame afterwards', () => {
    const { technician, host } = pair()
    const message = text('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA host key')
    const frame = technician.seal(message)
    fc.assert(
      fc.property(fc.nat({ max: frame.length - 1 }), fc.integer({ min: 1, max: 255 }), (position, mask) => {
        const tampered = frame.slice()
        tampered[position] = (tampered[position] ?? 0) ^ mask
        const code = thrownCode(() => host.open(tampered))
        // Bytes 0-1 are the header; from byte 2 on, the counter is authenticated with the box.
        if (position === 0) expect(code).toBe('MALFORMED')
        else if (position === 1) expect(['MALFORMED', 'UNEXPECTED']).toContain(code)
        else expect(code).toBe('TAMPERED')
      }),
      { numRuns: 300 },
    )
    expect(host.open(frame)).toEqual(message)
  })

  it('rejects truncated or extended frames without losing its place', () => {
    const { technician, host } = pair()
    const frame = technician.seal(text('hello'))
    expect(thrownCode(() => host.open(frame.subarray(0, 25)))).toBe('MALFORMED')
    expect(thrownCode(() => host.open(frame.subarray(0, frame.length - 1)))).toBe('TAMPERED')
    expect(thrownCode(() => host.open(Uint8Array.of(...frame, 0)))).toBe('TAMPERED')
    expect(host.open(frame)).toEqual(text('hello'))
  })

  it('rejects a replayed frame as REPLAYED and goes on with the next one', () => {
    const { technician, host } = pair()
    const first = technician.seal(text('one'))
    const second = technician.seal(text('two'))
    expect(host.open(first)).toEqual(text('one'))
    expect(thrownCode(() => host.open(first))).toBe('REPLAYED')
    expect(host.open(second)).toEqual(text('two'))
    expect(thrownCode(() => host.open(second))).toBe('REPLAYED')
    expect(thrownCode(() => host.open(first))).toBe('REPLAYED')
  })

  it('rejects a frame from the future as OUT_OF_ORDER and accepts the expected one next', () => {
    const { technician, host } = pair()
    const frames = ['zero', 'one', 'two'].map((word) => technician.seal(text(word)))
    const [zero, one, two] = frames as [Uint8Array, Uint8Array, Uint8Array]
    expect(thrownCode(() => host.open(two))).toBe('OUT_OF_ORDER')
    expect(thrownCode(() => host.open(one))).toBe('OUT_OF_ORDER')
    expect(host.open(zero)).toEqual(text('zero'))
    expect(thrownCode(() => host.open(two))).toBe('OUT_OF_ORDER')
    expect(host.open(one)).toEqual(text('one'))
    expect(host.open(two)).toEqual(text('two'))
  })

  it('treats a rewritten counter as tampering, since the counter is part of the nonce', () => {
    const { technician, host } = pair()
    technician.seal(text('zero'))
    const one = technician.seal(text('one'))
    expect(thrownCode(() => host.open(withCounter(one, 0n)))).toBe('TAMPERED')
    expect(thrownCode(() => host.open(withCounter(one, 2n ** 64n - 1n)))).toBe('TAMPERED')
  })

  it('keeps the directions apart: a side cannot open its own frames (no reflection)', () => {
    const { technician, host } = pair()
    expect(thrownCode(() => technician.open(technician.seal(text('mine'))))).toBe('TAMPERED')
    expect(thrownCode(() => host.open(host.seal(text('mine'))))).toBe('TAMPERED')
  })

  it('counts each direction on its own, from 0', () => {
    const { technician, host } = pair()
    for (const word of ['a', 'b', 'c']) expect(host.open(technician.seal(text(word)))).toEqual(text(word))
    const reply = host.seal(text('d'))
    expect([...reply.subarray(2, 10)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    expect(technician.open(reply)).toEqual(text('d'))
  })

  it('refuses plaintext over MAX_SEALED_PLAINTEXT on seal and on open, and carries exactly the limit', () => {
    const { technician, host } = pair()
    expect(MAX_SEALED_PLAINTEXT).toBe(1024 * 1024)
    expect(thrownCode(() => technician.seal(new Uint8Array(MAX_SEALED_PLAINTEXT + 1)))).toBe('OVERSIZE')
    const full = nacl.randomBytes(MAX_SEALED_PLAINTEXT)
    // Buffer.equals: a deep equality over a megabyte of elements takes seconds.
    expect(Buffer.from(host.open(technician.seal(full))).equals(full)).toBe(true)

    const oversized = new Uint8Array(2 + 8 + 16 + MAX_SEALED_PLAINTEXT + 1)
    oversized.set([1, FrameType.sealed])
    new DataView(oversized.buffer).setBigUint64(2, 1n)
    expect(thrownCode(() => host.open(oversized))).toBe('OVERSIZE')
    expect(host.open(technician.seal(text('after')))).toEqual(text('after'))
  })

  it('carries an empty message', () => {
    const { technician, host } = pair()
    expect(host.open(technician.seal(new Uint8Array(0)))).toEqual(new Uint8Array(0))
  })

  it('rejects a handshake frame fed to open() as UNEXPECTED', () => {
    const { host } = pair()
    expect(thrownCode(() => host.open(Uint8Array.of(1, FrameType.reveal, ...new Uint8Array(32))))).toBe(
      'UNEXPECTED',
    )
  })

  it('stops sealing and opening after destroy()', () => {
    const { technician, host } = pair()
    const pending = technician.seal(text('late'))
    technician.destroy()
    technician.destroy()
    expect(thrownCode(() => technician.seal(text('x')))).toBe('UNEXPECTED')
    expect(thrownCode(() => technician.open(host.seal(text('x'))))).toBe('UNEXPECTED')
    host.destroy()
    expect(thrownCode(() => host.open(pending))).toBe('UNEXPECTED')
  })

  it('refuses keys that are the wrong size or equal in both directions', () => {
    const key = nacl.randomBytes(32)
    expect(thrownCode(() => new SealedChannel(key, key.slice()))).toBe('BAD_KEY')
    expect(thrownCode(() => new SealedChannel(key, nacl.randomBytes(31)))).toBe('BAD_KEY')
  })
})

describe('sealed JSON', () => {
  it('round-trips JSON values', () => {
    const { technician, host } = pair()
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        // JSON has no -0; the receiver sees 0.
        expect(openJson(host, sealJson(technician, value))).toEqual(JSON.parse(JSON.stringify(value)))
      }),
    )
  })

  it('refuses values with no JSON form as MALFORMED, without using up a counter', () => {
    const { technician, host } = pair()
    const circular: Record<string, unknown> = {}
    circular.self = circular
    for (const value of [undefined, () => 1, Symbol('s'), 1n, circular]) {
      expect(thrownCode(() => sealJson(technician, value))).toBe('MALFORMED')
    }
    expect(openJson(host, sealJson(technician, { type: 'hello' }))).toEqual({ type: 'hello' })
  })

  it('rejects sealed bytes that are not UTF-8 or not JSON as MALFORMED, and the channel goes on', () => {
    const { technician, host } = pair()
    expect(thrownCode(() => openJson(host, technician.seal(Uint8Array.of(0x7b, 0xff, 0x7d))))).toBe(
      'MALFORMED',
    )
    expect(thrownCode(() => openJson(host, technician.seal(text('{"type":'))))).toBe('MALFORMED')
    expect(thrownCode(() => openJson(host, technician.seal(new Uint8Array(0))))).toBe('MALFORMED')
    expect(openJson(host, sealJson(technician, ['ok']))).toEqual(['ok'])
  })
})
