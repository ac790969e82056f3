import fc from 'fast-check'
import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'

import {
  FrameType,
  PairingError,
  createHostHandshake,
  createTechnicianHandshake,
  frameType,
  openJson,
  sealJson,
  type PairingErrorCode,
} from './index.js'

// Every function fed bytes from the network must either succeed or throw a PairingError.
function outcome(run: () => unknown): 'ok' | PairingErrorCode {
  try {
    run()
    return 'ok'
  } catch (error) {
    if (error instanceof PairingError) return error.code
    throw error
  }
}

const types = Object.values(FrameType)

// Purely random bytes rarely get past the header check, so half the inputs carry a valid
// header, and some have exactly the length the decoder wants.
function frames(bodyLength?: number): fc.Arbitrary<Uint8Array> {
  const header = fc.tuple(
    fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 255 })),
    fc.oneof(fc.constantFrom(...types), fc.integer({ min: 0, max: 255 })),
  )
  const body =
    bodyLength === undefined
      ? fc.uint8Array({ maxLength: 120 })
      : fc.oneof(
          fc.uint8Array({ minLength: bodyLength, maxLength: bodyLength }),
          fc.uint8Array({ maxLength: 120 }),
        )
  return fc.oneof(
    fc.uint8Array({ maxLength: 120 }),
    fc.tuple(header, body).map(([[version, type], rest]) => Uint8Array.of(version, type, ...rest)),
  )
}

const notBytes = fc.anything().filter((value) => !(value instanceof Uint8Array))

function sessionId(): Uint8Array {
  return nacl.randomBytes(16)
}

function pair() {
  const id = sessionId()
  const technician = createTechnicianHandshake(id)
  const host = createHostHandshake(id)
  const { reveal, result } = technician.onHostKey(host.onCommit(technician.commit()))
  return { technician: result.channel, host: host.onReveal(reveal).channel }
}

describe('decoders throw only PairingError', () => {
  it('frameType never throws and names only known v1 types', () => {
    fc.assert(
      fc.property(fc.oneof(frames(), notBytes), (input) => {
        const type = frameType(input as Uint8Array)
        if (type !== undefined) {
          expect(types).toContain(type)
          expect([(input as Uint8Array)[0], (input as Uint8Array)[1]]).toEqual([1, type])
        }
      }),
    )
  })

  it('onCommit', () => {
    fc.assert(
      fc.property(fc.oneof(frames(64), notBytes), (input) => {
        const result = outcome(() => createHostHandshake(sessionId()).onCommit(input as Uint8Array))
        expect(['ok', 'MALFORMED', 'UNEXPECTED']).toContain(result)
      }),
    )
  })

  it('onHostKey', () => {
    fc.assert(
      fc.property(fc.oneof(frames(32), notBytes), (input) => {
        const technician = createTechnicianHandshake(sessionId())
        technician.commit()
        const result = outcome(() => technician.onHostKey(input as Uint8Array))
        expect(['ok', 'MALFORMED', 'UNEXPECTED', 'BAD_KEY']).toContain(result)
      }),
    )
  })

  it('onReveal, with random reveals', () => {
    fc.assert(
      fc.property(fc.oneof(frames(32), notBytes), (input) => {
        const host = createHostHandshake(sessionId())
        host.onCommit(Uint8Array.of(1, FrameType.commit, ...nacl.randomBytes(64)))
        const result = outcome(() => host.onReveal(input as Uint8Array))
        expect(['MALFORMED', 'UNEXPECTED', 'COMMITMENT_MISMATCH']).toContain(result)
      }),
    )
  })

  it('onReveal, with arbitrary keys that match their commitment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (key) => {
        const id = sessionId()
        const host = createHostHandshake(id)
        host.onCommit(Uint8Array.of(1, FrameType.commit, ...nacl.hash(Uint8Array.of(...key, ...id))))
        const result = outcome(() => host.onReveal(Uint8Array.of(1, FrameType.reveal, ...key)))
        expect(['ok', 'BAD_KEY']).toContain(result)
      }),
    )
  })

  it('open and openJson, with arbitrary frames', () => {
    const { technician, host } = pair()
    fc.assert(
      fc.property(fc.oneof(frames(40), notBytes), fc.boolean(), (input, json) => {
        const result = outcome(() =>
          json ? openJson(host, input as Uint8Array) : host.open(input as Uint8Array),
        )
        expect(['MALFORMED', 'UNEXPECTED', 'TAMPERED', 'OVERSIZE']).toContain(result)
      }),
    )
    // None of that moved the channel on.
    expect(openJson(host, sealJson(technician, { type: 'hello' }))).toEqual({ type: 'hello' })
  })

  it('openJson, with authentic frames holding arbitrary bytes', () => {
    const { technician, host } = pair()
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.json().map((json) => new TextEncoder().encode(json)),
        ),
        (plaintext) => {
          expect(['ok', 'MALFORMED']).toContain(outcome(() => openJson(host, technician.seal(plaintext))))
        },
      ),
    )
  })
})
