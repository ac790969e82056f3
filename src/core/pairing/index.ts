/**
 * Sealed pairing: the first thing technician and host run over the relayed stream. It owns the
 * wire format of pairing frames, the commit-then-reveal X25519 handshake, the key schedule
 * (HKDF-SHA-512 over the whole transcript), the short authentication string both screens show,
 * and the sealed channel (secretbox, one key and one counter per direction) that carries
 * everything after it. Protocol: docs/protocol.md.
 *
 * Imports nothing of ours except ../errors.js; every decoder of network bytes throws only
 * PairingError.
 */

export { PairingError, type PairingErrorCode } from './pairing-error.js'
export { FrameType, MAX_SEALED_PLAINTEXT, frameType } from './frames.js'
export {
  createHostHandshake,
  createTechnicianHandshake,
  type HostHandshake,
  type PairingResult,
  type TechnicianHandshake,
} from './handshake.js'
export { SealedChannel } from './sealed-channel.js'
export { openJson, sealJson } from './sealed-json.js'
