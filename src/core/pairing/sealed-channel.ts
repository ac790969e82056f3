import { timingSafeEqual } from 'node:crypto'

import nacl from 'tweetnacl'

import { COUNTER_LENGTH, MAX_SEALED_PLAINTEXT, decodeSealed, encodeSealed } from './frames.js'
import { PairingError } from './pairing-error.js'

const KEY_LENGTH = nacl.secretbox.keyLength
const MAX_COUNTER = 2n ** 64n - 1n

// 16 zero bytes then the counter: each key seals one direction only, so a counter never repeats
// under a key and the nonce is unique without random bytes.
function nonceFor(counter: bigint): Uint8Array {
  const nonce = new Uint8Array(nacl.secretbox.nonceLength)
  new DataView(nonce.buffer).setBigUint64(nonce.length - COUNTER_LENGTH, counter)
  return nonce
}

/** Seals and opens messages after pairing, with one key and one counter per direction. */
export class SealedChannel {
  readonly #sendKey: Uint8Array
  readonly #receiveKey: Uint8Array
  #sendCounter = 0n
  #receiveCounter = 0n
  #destroyed = false

  /** Made by the handshake; both keys are copied, so the caller may zero its own. */
  constructor(sendKey: Uint8Array, receiveKey: Uint8Array) {
    if (sendKey.length !== KEY_LENGTH || receiveKey.length !== KEY_LENGTH) {
      throw new PairingError('BAD_KEY', `sealed channel keys must be ${KEY_LENGTH} bytes`)
    }
    // The same key both ways would let anyone reflect our own frames back to us.
    if (timingSafeEqual(sendKey, receiveKey)) {
      throw new PairingError('BAD_KEY', 'sealed channel needs a different key for each direction')
    }
    this.#sendKey = sendKey.slice()
    this.#receiveKey = receiveKey.slice()
  }

  /** Seals one message as a SEALED frame under the next send counter. */
  seal(plaintext: Uint8Array): Uint8Array {
    this.#checkUsable()
    if (!(plaintext instanceof Uint8Array)) throw new PairingError('MALFORMED', 'plaintext is not bytes')
    if (plaintext.length > MAX_SEALED_PLAINTEXT) {
      throw new PairingError('OVERSIZE', `sealed message exceeds ${MAX_SEALED_PLAINTEXT} bytes`)
    }
    // Unreachable in practice (2^64 frames), but wrapping would reuse a nonce, so refuse instead.
    if (this.#sendCounter > MAX_COUNTER)
      throw new PairingError('OVERSIZE', 'sealed channel counter exhausted')
    const counter = this.#sendCounter
    const frame = encodeSealed(counter, nacl.secretbox(plaintext, nonceFor(counter), this.#sendKey))
    this.#sendCounter = counter + 1n
    return frame
  }

  /** Opens the next SEALED frame from the peer; a rejected frame leaves the channel where it was. */
  open(frame: Uint8Array): Uint8Array {
    this.#checkUsable()
    const { counter, box } = decodeSealed(frame)
    // Authenticate first: the counter is part of the nonce, so only a frame that opens has a
    // counter we can trust, and REPLAYED / OUT_OF_ORDER then describe real frames, not noise.
    const plaintext = nacl.secretbox.open(box, nonceFor(counter), this.#receiveKey)
    if (!plaintext) throw new PairingError('TAMPERED')
    if (counter < this.#receiveCounter) {
      throw new PairingError('REPLAYED', `sealed frame ${counter} was already received`)
    }
    if (counter > this.#receiveCounter) {
      throw new PairingError('OUT_OF_ORDER', `expected sealed frame ${this.#receiveCounter}, got ${counter}`)
    }
    this.#receiveCounter = counter + 1n
    return plaintext
  }

  /** Zeroes both keys; any later seal or open throws UNEXPECTED. */
  destroy(): void {
    this.#sendKey.fill(0)
    this.#receiveKey.fill(0)
    this.#destroyed = true
  }

  #checkUsable(): void {
    if (this.#destroyed) throw new PairingError('UNEXPECTED', 'sealed channel was destroyed')
  }
}
