import { createHash, hkdfSync } from 'node:crypto'

import { describe, expect, it } from 'vitest'

import { deriveSessionKeys, encodeTranscript, type Transcript } from './kdf.js'

const bytes = (length: number, fill: number) => new Uint8Array(length).fill(fill)

const transcript: Transcript = {
  sessionId: bytes(16, 0x51),
  commitment: bytes(64, 0xc0),
  hostPublicKey: bytes(32, 0x40),
  technicianPublicKey: bytes(32, 0x7e),
}

describe('key schedule', () => {
  it('hashes the transcript in the layout docs/protocol.md gives', () => {
    const label = Buffer.from('rescue-pairing-v1')
    const expected = Buffer.concat([
      Buffer.from([0, 0, 0, label.length]),
      label,
      Buffer.from([0, 0, 0, 16]),
      Buffer.alloc(16, 0x51),
      Buffer.alloc(64, 0xc0),
      Buffer.alloc(32, 0x40),
      Buffer.alloc(32, 0x7e),
    ])
    expect(Buffer.from(encodeTranscript(transcript))).toEqual(expected)
  })

  it('derives each output with HKDF-SHA-512, salt = SHA-512(transcript), its own info label', () => {
    const shared = bytes(32, 0x99)
    const salt = createHash('sha512').update(encodeTranscript(transcript)).digest()
    const hkdf = (info: string, length: number) => Buffer.from(hkdfSync('sha512', shared, salt, info, length))
    const keys = deriveSessionKeys(shared, transcript)
    expect(Buffer.from(keys.technicianToHost)).toEqual(hkdf('rescue-pairing-v1 key technician->host', 32))
    expect(Buffer.from(keys.hostToTechnician)).toEqual(hkdf('rescue-pairing-v1 key host->technician', 32))
    expect(Buffer.from(keys.sas)).toEqual(hkdf('rescue-pairing-v1 sas', 5))
    expect(keys.technicianToHost).not.toEqual(keys.hostToTechnician)
  })

  it('changes every output when any transcript field changes', () => {
    const shared = bytes(32, 0x99)
    const base = deriveSessionKeys(shared, transcript)
    for (const field of Object.keys(transcript) as (keyof Transcript)[]) {
      const changed = { ...transcript, [field]: transcript[field].map((b, i) => (i === 0 ? b ^ 1 : b)) }
      const keys = deriveSessionKeys(shared, changed)
      expect(keys.technicianToHost, field).not.toEqual(base.technicianToHost)
      expect(keys.hostToTechnician, field).not.toEqual(base.hostToTechnician)
      expect(keys.sas, field).not.toEqual(base.sas)
    }
  })

  it('length-prefixes the session id, so it cannot borrow bytes from the commitment', () => {
    const commitment = new Uint8Array(64).fill(0xc0)
    commitment[0] = 0x51
    const a = { ...transcript, sessionId: bytes(16, 0x51), commitment }
    const b = { ...transcript, sessionId: bytes(17, 0x51), commitment: bytes(63, 0xc0) }
    // Plain concatenation of the two would be identical; the prefix tells them apart.
    expect(Buffer.concat([a.sessionId, a.commitment])).toEqual(Buffer.concat([b.sessionId, b.commitment]))
    expect(Buffer.from(encodeTranscript(a))).not.toEqual(Buffer.from(encodeTranscript(b)))
  })
})
