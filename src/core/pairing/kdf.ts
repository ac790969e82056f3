import { hkdfSync } from 'node:crypto'

import nacl from 'tweetnacl'

import { SAS_BYTE_LENGTH } from './sas.js'
import { sha512 } from './x25519.js'

/** Names this protocol inside the transcript, so keys from any other use of X25519 never collide. */
export const PROTOCOL_LABEL = 'rescue-pairing-v1'

// Distinct info labels make the three outputs independent keys from one extract step (RFC 5869).
const info = {
  technicianToHost: `${PROTOCOL_LABEL} key technician->host`,
  hostToTechnician: `${PROTOCOL_LABEL} key host->technician`,
  sas: `${PROTOCOL_LABEL} sas`,
  resume: `${PROTOCOL_LABEL} resume`,
} as const

const KEY_LENGTH = nacl.secretbox.keyLength

/** Everything both sides saw during the handshake, in the order it is hashed. */
export interface Transcript {
  sessionId: Uint8Array
  commitment: Uint8Array
  hostPublicKey: Uint8Array
  technicianPublicKey: Uint8Array
}

/**
 * The pairing's outputs: one secretbox key per direction, the bytes behind the SAS words, and the
 * key that proves a reconnecting side is the one that paired (resumable-stream.ts).
 */
export interface SessionKeys {
  technicianToHost: Uint8Array
  hostToTechnician: Uint8Array
  sas: Uint8Array
  resume: Uint8Array
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4)
  new DataView(bytes.buffer).setUint32(0, value)
  return bytes
}

/** Serialises the transcript: variable-length fields carry a 4-byte length, fixed-length ones do not. */
export function encodeTranscript(transcript: Transcript): Uint8Array {
  const label = new TextEncoder().encode(PROTOCOL_LABEL)
  const parts = [
    u32(label.length),
    label,
    u32(transcript.sessionId.length),
    transcript.sessionId,
    transcript.commitment,
    transcript.hostPublicKey,
    transcript.technicianPublicKey,
  ]
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** HKDF-SHA-512 with the shared secret as input key material and the transcript hash as salt. */
export function deriveSessionKeys(sharedSecret: Uint8Array, transcript: Transcript): SessionKeys {
  const salt = sha512(encodeTranscript(transcript))
  const expand = (label: string, length: number): Uint8Array =>
    new Uint8Array(hkdfSync('sha512', sharedSecret, salt, label, length))
  return {
    technicianToHost: expand(info.technicianToHost, KEY_LENGTH),
    hostToTechnician: expand(info.hostToTechnician, KEY_LENGTH),
    sas: expand(info.sas, SAS_BYTE_LENGTH),
    resume: expand(info.resume, 32),
  }
}
