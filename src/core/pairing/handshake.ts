import { timingSafeEqual } from 'node:crypto'

import { COMMITMENT_LENGTH, FrameType, PUBLIC_KEY_LENGTH, decodeFixed, encodeFrame } from './frames.js'
import { deriveSessionKeys, encodeTranscript, type SessionKeys, type Transcript } from './kdf.js'
import { PairingError } from './pairing-error.js'
import { loadSasWords, sasWordsFrom } from './sas.js'
import { SealedChannel } from './sealed-channel.js'
import { X25519_KEY_LENGTH, generateX25519KeyPair, sha512, x25519, type X25519KeyPair } from './x25519.js'

/** What a completed pairing gives each side: words to compare by phone and the sealed channel. */
export interface PairingResult {
  sas: string
  sasWords: string[]
  channel: SealedChannel
  /** 32 bytes only the two paired sides know: what a resume after a lost link is proved with. */
  resumeKey: Uint8Array
  /**
   * SHA-512 of the transcript (session id, commitment, both ephemeral keys): what a technician's
   * device key signs to prove it took part in this very pairing. Not secret.
   */
  transcriptHash: Uint8Array
}

/** The technician's side: commit first, then reveal its key once the host's key has arrived. */
export interface TechnicianHandshake {
  commit(): Uint8Array
  onHostKey(frame: Uint8Array): { reveal: Uint8Array; result: PairingResult }
}

/** The end user's side: answer the commitment with its key, then check the reveal against it. */
export interface HostHandshake {
  onCommit(frame: Uint8Array): Uint8Array
  onReveal(frame: Uint8Array): PairingResult
}

const MAX_SESSION_ID_LENGTH = 255

function checkSessionId(sessionId: Uint8Array): Uint8Array {
  if (
    !(sessionId instanceof Uint8Array) ||
    sessionId.length === 0 ||
    sessionId.length > MAX_SESSION_ID_LENGTH
  ) {
    throw new PairingError('MALFORMED', `session id must be 1 to ${MAX_SESSION_ID_LENGTH} bytes`)
  }
  return sessionId.slice()
}

// The session id inside the hash stops a commitment recorded in one session being replayed in another.
function commitmentFor(publicKey: Uint8Array, sessionId: Uint8Array): Uint8Array {
  const input = new Uint8Array(publicKey.length + sessionId.length)
  input.set(publicKey)
  input.set(sessionId, publicKey.length)
  return sha512(input)
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

function checkKeyPair(keyPair: X25519KeyPair): void {
  if (keyPair.publicKey.length !== X25519_KEY_LENGTH || keyPair.secretKey.length !== X25519_KEY_LENGTH) {
    throw new PairingError('BAD_KEY', `key pair must hold two ${X25519_KEY_LENGTH}-byte keys`)
  }
}

function agree(
  secretKey: Uint8Array,
  peerPublicKey: Uint8Array,
  transcript: Transcript,
): SessionKeys & { transcriptHash: Uint8Array } {
  // Throws BAD_KEY for a low-order peer key, whose all-zero secret an attacker would know too.
  const shared = x25519(secretKey, peerPublicKey)
  try {
    return { ...deriveSessionKeys(shared, transcript), transcriptHash: sha512(encodeTranscript(transcript)) }
  } finally {
    shared.fill(0)
  }
}

function toResult(
  keys: SessionKeys & { transcriptHash: Uint8Array },
  role: 'technician' | 'host',
): PairingResult {
  const sasWords = sasWordsFrom(keys.sas)
  const channel =
    role === 'technician'
      ? new SealedChannel(keys.technicianToHost, keys.hostToTechnician)
      : new SealedChannel(keys.hostToTechnician, keys.technicianToHost)
  keys.technicianToHost.fill(0)
  keys.hostToTechnician.fill(0)
  keys.sas.fill(0)
  return {
    sas: sasWords.join(' '),
    sasWords,
    channel,
    resumeKey: keys.resume,
    transcriptHash: keys.transcriptHash,
  }
}

/** Technician handshake with a given key pair; tests use it for fixed vectors. Zeroes the secret key. */
export function technicianHandshakeWith(sessionId: Uint8Array, keyPair: X25519KeyPair): TechnicianHandshake {
  const sid = checkSessionId(sessionId)
  checkKeyPair(keyPair)
  loadSasWords()
  const publicKey = keyPair.publicKey.slice()
  const secretKey = keyPair.secretKey
  const commitment = commitmentFor(publicKey, sid)
  // Any failure ends the handshake: a retry would hand an attacker a second guess at the SAS.
  let step: 'commit' | 'hostKey' | 'over' = 'commit'
  return {
    commit() {
      if (step !== 'commit') throw new PairingError('UNEXPECTED', 'commit() may be called once, first')
      step = 'hostKey'
      return encodeFrame(FrameType.commit, commitment)
    },
    onHostKey(frame) {
      if (step !== 'hostKey')
        throw new PairingError('UNEXPECTED', 'onHostKey() may be called once, after commit()')
      step = 'over'
      try {
        const hostPublicKey = decodeFixed(frame, FrameType.hostKey, PUBLIC_KEY_LENGTH)
        const keys = agree(secretKey, hostPublicKey, {
          sessionId: sid,
          commitment,
          hostPublicKey,
          technicianPublicKey: publicKey,
        })
        return { reveal: encodeFrame(FrameType.reveal, publicKey), result: toResult(keys, 'technician') }
      } finally {
        secretKey.fill(0)
      }
    },
  }
}

/** Host handshake with a given key pair; tests use it for fixed vectors. Zeroes the secret key. */
export function hostHandshakeWith(sessionId: Uint8Array, keyPair: X25519KeyPair): HostHandshake {
  const sid = checkSessionId(sessionId)
  checkKeyPair(keyPair)
  loadSasWords()
  const publicKey = keyPair.publicKey.slice()
  const secretKey = keyPair.secretKey
  let commitment: Uint8Array | undefined
  let step: 'commit' | 'reveal' | 'over' = 'commit'
  return {
    onCommit(frame) {
      if (step !== 'commit') throw new PairingError('UNEXPECTED', 'onCommit() may be called once, first')
      step = 'over'
      try {
        commitment = decodeFixed(frame, FrameType.commit, COMMITMENT_LENGTH)
      } catch (error) {
        secretKey.fill(0)
        throw error
      }
      step = 'reveal'
      return encodeFrame(FrameType.hostKey, publicKey)
    },
    onReveal(frame) {
      if (step !== 'reveal' || !commitment) {
        throw new PairingError('UNEXPECTED', 'onReveal() may be called once, after onCommit()')
      }
      step = 'over'
      try {
        const technicianPublicKey = decodeFixed(frame, FrameType.reveal, PUBLIC_KEY_LENGTH)
        if (!sameBytes(commitmentFor(technicianPublicKey, sid), commitment)) {
          throw new PairingError('COMMITMENT_MISMATCH')
        }
        const keys = agree(secretKey, technicianPublicKey, {
          sessionId: sid,
          commitment,
          hostPublicKey: publicKey,
          technicianPublicKey,
        })
        return toResult(keys, 'host')
      } finally {
        secretKey.fill(0)
      }
    },
  }
}

/** Starts the technician's side of a pairing for one session, with a fresh ephemeral key. */
export function createTechnicianHandshake(sessionId: Uint8Array): TechnicianHandshake {
  return technicianHandshakeWith(sessionId, generateX25519KeyPair())
}

/** Starts the host's side of a pairing for one session, with a fresh ephemeral key. */
export function createHostHandshake(sessionId: Uint8Array): HostHandshake {
  return hostHandshakeWith(sessionId, generateX25519KeyPair())
}
