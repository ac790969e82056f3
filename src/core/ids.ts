/** Random identifiers from the CSPRNG. */
import { randomBytes, randomInt } from 'node:crypto'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** RFC 4648 base32, lower case, unpadded: case-insensitive and safe in paths and URLs. */
export function base32(bytes: Uint8Array): string {
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return out
}

/** Random bytes for ids, drawn from the CSPRNG in blocks: one call per id was a busy gateway's 1-2%. */
const ID_POOL_BYTES = 16 * 256
let idPool = Buffer.alloc(0)
let idOffset = ID_POOL_BYTES

/** A 128-bit random id: sessions (as the reference product's session GUID), rows. */
export function newId(): string {
  if (idOffset + 16 > idPool.length) {
    // A fresh block each time: an id already handed out is never overwritten.
    idPool = randomBytes(ID_POOL_BYTES)
    idOffset = 0
  }
  const id = base32(idPool.subarray(idOffset, idOffset + 16))
  idOffset += 16
  return id
}

/** A PIN of `digits` decimal digits, uniform (randomInt rejects modulo bias). */
export function newPin(digits = 6): string {
  return randomInt(0, 10 ** digits)
    .toString()
    .padStart(digits, '0')
}

/** Whether `text` has the form of a PIN: exactly 6 decimal digits (what `newPin` makes). */
export function isPinForm(text: string): boolean {
  return /^[0-9]{6}$/.test(text)
}
