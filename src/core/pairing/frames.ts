import nacl from 'tweetnacl'

import { PairingError } from './pairing-error.js'

/** Version byte that starts every pairing frame; a peer speaking another version is rejected, not guessed at. */
export const PROTOCOL_VERSION = 1

/** Type byte, second in every pairing frame. */
export const FrameType = { commit: 1, hostKey: 2, reveal: 3, sealed: 16 } as const

/** One of the FrameType values. */
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType]

/** Largest plaintext a sealed frame may carry: bounds the memory one frame can make us spend. */
export const MAX_SEALED_PLAINTEXT = 1024 * 1024

export const HEADER_LENGTH = 2
export const COMMITMENT_LENGTH = 64
export const PUBLIC_KEY_LENGTH = 32
export const COUNTER_LENGTH = 8
export const BOX_OVERHEAD = nacl.secretbox.overheadLength

const SEALED_MIN_LENGTH = HEADER_LENGTH + COUNTER_LENGTH + BOX_OVERHEAD
const SEALED_MAX_LENGTH = SEALED_MIN_LENGTH + MAX_SEALED_PLAINTEXT

const typeNames: Record<FrameTypeValue, string> = { 1: 'COMMIT', 2: 'HOST_KEY', 3: 'REVEAL', 16: 'SEALED' }

function isFrameType(value: number | undefined): value is FrameTypeValue {
  return value !== undefined && Object.hasOwn(typeNames, value)
}

/** Peeks at a frame's type so a reader can route it; undefined for anything that is not a known v1 frame. */
export function frameType(frame: Uint8Array): number | undefined {
  if (!(frame instanceof Uint8Array) || frame.length < HEADER_LENGTH || frame[0] !== PROTOCOL_VERSION) {
    return undefined
  }
  const type = frame[1]
  return isFrameType(type) ? type : undefined
}

/** Builds a frame: version, type, body. */
export function encodeFrame(type: FrameTypeValue, body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER_LENGTH + body.length)
  frame[0] = PROTOCOL_VERSION
  frame[1] = type
  frame.set(body, HEADER_LENGTH)
  return frame
}

// A well-formed frame of another known type means the peer is at a different step (UNEXPECTED);
// anything we cannot even classify is MALFORMED.
function frameBody(frame: unknown, expected: FrameTypeValue): Uint8Array {
  if (!(frame instanceof Uint8Array)) throw new PairingError('MALFORMED', 'pairing frame is not bytes')
  if (frame.length < HEADER_LENGTH)
    throw new PairingError('MALFORMED', 'pairing frame is shorter than its header')
  if (frame[0] !== PROTOCOL_VERSION) {
    throw new PairingError('MALFORMED', `unsupported pairing protocol version ${frame[0]}`)
  }
  const type = frame[1]
  if (!isFrameType(type)) throw new PairingError('MALFORMED', `unknown pairing frame type ${type}`)
  if (type !== expected) {
    throw new PairingError('UNEXPECTED', `expected a ${typeNames[expected]} frame, got ${typeNames[type]}`)
  }
  return frame.subarray(HEADER_LENGTH)
}

/** Decodes a handshake frame whose body has exactly one allowed length; returns a copy of the body. */
export function decodeFixed(frame: Uint8Array, type: FrameTypeValue, length: number): Uint8Array {
  const body = frameBody(frame, type)
  if (body.length !== length) {
    throw new PairingError(
      'MALFORMED',
      `${typeNames[type]} frame body must be ${length} bytes, got ${body.length}`,
    )
  }
  // A copy, so a caller reusing its receive buffer cannot change a key we already accepted.
  return body.slice()
}

/** Builds a sealed frame: header, 8-byte big-endian counter, secretbox output. */
export function encodeSealed(counter: bigint, box: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER_LENGTH + COUNTER_LENGTH + box.length)
  frame[0] = PROTOCOL_VERSION
  frame[1] = FrameType.sealed
  new DataView(frame.buffer).setBigUint64(HEADER_LENGTH, counter)
  frame.set(box, HEADER_LENGTH + COUNTER_LENGTH)
  return frame
}

/** Splits a sealed frame into its counter and box, checking lengths before any decryption work. */
export function decodeSealed(frame: Uint8Array): { counter: bigint; box: Uint8Array } {
  const body = frameBody(frame, FrameType.sealed)
  if (frame.length < SEALED_MIN_LENGTH) {
    throw new PairingError('MALFORMED', `sealed frame must be at least ${SEALED_MIN_LENGTH} bytes`)
  }
  if (frame.length > SEALED_MAX_LENGTH) {
    throw new PairingError('OVERSIZE', `sealed frame exceeds ${MAX_SEALED_PLAINTEXT} bytes of plaintext`)
  }
  const counter = new DataView(body.buffer, body.byteOffset, body.byteLength).getBigUint64(0)
  return { counter, box: body.subarray(COUNTER_LENGTH) }
}
