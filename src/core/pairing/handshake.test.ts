import { hkdfSync } from 'node:crypto'

import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'

import { hostHandshakeWith, technicianHandshakeWith } from './handshake.js'
import {
  FrameType,
  PairingError,
  createHostHandshake,
  createTechnicianHandshake,
  frameType,
  openJson,
  sealJson,
  type PairingErrorCode,
  type PairingResult,
} from './index.js'
import { encodeTranscript } from './kdf.js'
import { loadSasWords, sasWordsFrom } from './sas.js'

const sessionId = () => nacl.randomBytes(16)

function thrownCode(run: () => unknown): PairingErrorCode | 'nothing thrown' {
  try {
    run()
  } catch (error) {
    if (error instanceof PairingError) return error.code
    throw error
  }
  return 'nothing thrown'
}

function pair(id = sessionId()): { technician: PairingResult; host: PairingResult } {
  const technician = createTechnicianHandshake(id)
  const host = createHostHandshake(id)
  const hostKey = host.onCommit(technician.commit())
  const { reveal, result } = technician.onHostKey(hostKey)
  return { technician: result, host: host.onReveal(reveal) }
}

// Low-order X25519 points: 0, 1, and a point of order 8. Each forces an all-zero shared secret.
const lowOrderPoints = [
  new Uint8Array(32),
  Uint8Array.of(1, ...new Uint8Array(31)),
  Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'),
]

function frame(type: number, body: Uint8Array): Uint8Array {
  return Uint8Array.of(1, type, ...body)
}

// Computed independently (Python `cryptography`: X25519, HKDF-SHA-512) from docs/protocol.md.
const GOLDEN_SAS = 'maid ribbon elephant'
const GOLDEN_TECHNICIAN_TO_HOST_KEY = '8762e6a7c40e0a9ef9ccb4c8039d52be442d98713e3b9abc4b11575c3d0dab3f'
const GOLDEN_SEALED = '01100000000000000000922e815f0ea8cd52e747f7d4f9c53cf929cdda039ffe'

const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

// The pairing as it was computed with tweetnacl's X25519 (scalarMult) and SHA-512 (hash).
function tweetnaclReference(id: Uint8Array, technician: nacl.BoxKeyPair, host: nacl.BoxKeyPair) {
  const commitment = nacl.hash(Uint8Array.of(...technician.publicKey, ...id))
  const shared = nacl.scalarMult(technician.secretKey, host.publicKey)
  expect(hexOf(nacl.scalarMult(host.secretKey, technician.publicKey))).toBe(hexOf(shared))
  const salt = nacl.hash(
    encodeTranscript({
      sessionId: id,
      commitment,
      hostPublicKey: host.publicKey,
      technicianPublicKey: technician.publicKey,
    }),
  )
  const hkdf = (info: string, length: number) =>
    new Uint8Array(hkdfSync('sha512', shared, salt, info, length))
  return {
    commitment,
    technicianToHost: hkdf('rescue-pairing-v1 key technician->host', 32),
    hostToTechnician: hkdf('rescue-pairing-v1 key host->technician', 32),
    sasWords: sasWordsFrom(hkdf('rescue-pairing-v1 sas', 5)),
  }
}

describe('pairing handshake', () => {
  it('gives both sides the same three-word SAS and a working channel both ways', () => {
    const { technician, host } = pair()
    const words = new Set(loadSasWords())
    expect(technician.sas).toBe(host.sas)
    expect(technician.sasWords).toEqual(host.sasWords)
    expect(technician.sasWords).toHaveLength(3)
    expect(technician.sasWords.every((word) => words.has(word))).toBe(true)
    expect(technician.sas).toBe(technician.sasWords.join(' '))

    const hello = new TextEncoder().encode('hello host')
    expect(host.channel.open(technician.channel.seal(hello))).toEqual(hello)
    const reply = new TextEncoder().encode('hello technician')
    expect(technician.channel.open(host.channel.seal(reply))).toEqual(reply)

    const message = { type: 'hello', version: 1, name: 'tech ✓', nested: [1, null, { ok: true }] }
    expect(openJson(host.channel, sealJson(technician.channel, message))).toEqual(message)
    expect(openJson(technician.channel, sealJson(host.channel, { type: 'hello' }))).toEqual({ type: 'hello' })
  })

  it('sends frames with the documented version, type and exact lengths', () => {
    const id = sessionId()
    const technician = createTechnicianHandshake(id)
    const host = createHostHandshake(id)
    const commit = technician.commit()
    const hostKey = host.onCommit(commit)
    const { reveal } = technician.onHostKey(hostKey)
    expect([commit.length, commit[0], frameType(commit)]).toEqual([66, 1, FrameType.commit])
    expect([hostKey.length, hostKey[0], frameType(hostKey)]).toEqual([34, 1, FrameType.hostKey])
    expect([reveal.length, reveal[0], frameType(reveal)]).toEqual([34, 1, FrameType.reveal])
    // The commitment is SHA-512(technician public key || session id).
    const revealed = reveal.subarray(2)
    expect(commit.subarray(2)).toEqual(nacl.hash(Uint8Array.of(...revealed, ...id)))
  })

  it('gives different SAS to different sessions', () => {
    const seen = new Set(Array.from({ length: 20 }, () => pair().technician.sas))
    // 20 draws from 2^33 values collide with probability about 2^-25.
    expect(seen.size).toBe(20)
  })

  it('keeps the key schedule stable across releases (fixed keys give a fixed SAS and frame)', () => {
    const id = new Uint8Array(16).fill(0x5e)
    const technician = technicianHandshakeWith(id, nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(1)))
    const host = hostHandshakeWith(id, nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(2)))
    const { reveal, result } = technician.onHostKey(host.onCommit(technician.commit()))
    const hostResult = host.onReveal(reveal)
    expect(result.sas).toBe(GOLDEN_SAS)
    expect(hostResult.sas).toBe(GOLDEN_SAS)
    const sealed = result.channel.seal(new TextEncoder().encode('rescue'))
    expect(Buffer.from(sealed).toString('hex')).toBe(GOLDEN_SEALED)
    // The nonce is 16 zero bytes then the 8-byte counter, under the independently derived key.
    const key = Buffer.from(GOLDEN_TECHNICIAN_TO_HOST_KEY, 'hex')
    const opened = nacl.secretbox.open(sealed.subarray(10), new Uint8Array(24), key)
    expect(opened && new TextDecoder().decode(opened)).toBe('rescue')
  })

  // X25519 and SHA-512 once came from tweetnacl and now come from node:crypto: the same key pairs
  // must still give the same commitment, SAS and sealed bytes, or old and new peers cannot pair.
  it.each([
    [
      'the golden vector keys',
      new Uint8Array(16).fill(0x5e),
      new Uint8Array(32).fill(1),
      new Uint8Array(32).fill(2),
    ],
    [
      'the RFC 7748 keys',
      Uint8Array.from(Buffer.from('a4a1d4bb7e3d0b6c6b4f3f2a9c1e0d57', 'hex')),
      Uint8Array.from(Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex')),
      Uint8Array.from(Buffer.from('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb', 'hex')),
    ],
    ['random keys', nacl.randomBytes(32), nacl.randomBytes(32), nacl.randomBytes(32)],
  ])(
    'derives byte for byte what the tweetnacl implementation did (%s)',
    (_, id, technicianSecret, hostSecret) => {
      const technicianKeys = nacl.box.keyPair.fromSecretKey(technicianSecret.slice())
      const hostKeys = nacl.box.keyPair.fromSecretKey(hostSecret.slice())
      const expected = tweetnaclReference(id, technicianKeys, hostKeys)

      // The handshake zeroes the secret keys it is given, so it gets copies.
      const copy = (keys: nacl.BoxKeyPair) => ({
        publicKey: keys.publicKey.slice(),
        secretKey: keys.secretKey.slice(),
      })
      const technician = technicianHandshakeWith(id, copy(technicianKeys))
      const host = hostHandshakeWith(id, copy(hostKeys))
      const commit = technician.commit()
      expect(hexOf(commit.subarray(2))).toBe(hexOf(expected.commitment))
      const { reveal, result } = technician.onHostKey(host.onCommit(commit))
      const hostResult = host.onReveal(reveal)
      expect(result.sasWords).toEqual(expected.sasWords)
      expect(hostResult.sasWords).toEqual(expected.sasWords)

      const message = new TextEncoder().encode('rescue')
      const sealedUnder = (key: Uint8Array) =>
        Uint8Array.of(
          1,
          FrameType.sealed,
          ...new Uint8Array(8),
          ...nacl.secretbox(message, new Uint8Array(24), key),
        )
      expect(hexOf(result.channel.seal(message))).toBe(hexOf(sealedUnder(expected.technicianToHost)))
      expect(hexOf(hostResult.channel.seal(message))).toBe(hexOf(sealedUnder(expected.hostToTechnician)))
    },
  )
})

describe('man in the middle', () => {
  it('is caught by the commitment when it swaps both keys but forwards the real commitment', () => {
    const id = sessionId()
    const technician = createTechnicianHandshake(id)
    const host = createHostHandshake(id)
    const mallory = nacl.box.keyPair()

    host.onCommit(technician.commit()) // the host's key is dropped
    const toTechnician = frame(FrameType.hostKey, mallory.publicKey)
    technician.onHostKey(toTechnician) // the technician's reveal is dropped too
    const forgedReveal = frame(FrameType.reveal, mallory.publicKey)
    expect(thrownCode(() => host.onReveal(forgedReveal))).toBe('COMMITMENT_MISMATCH')
  })

  it('running two honest-looking handshakes yields two different SAS and channels that do not join', () => {
    const id = sessionId()
    const technician = createTechnicianHandshake(id)
    const host = createHostHandshake(id)
    const fakeHost = createHostHandshake(id) // Mallory, facing the technician
    const fakeTechnician = createTechnicianHandshake(id) // Mallory, facing the host

    const toTechnician = fakeHost.onCommit(technician.commit())
    const toHost = host.onCommit(fakeTechnician.commit())
    const { reveal, result: technicianResult } = technician.onHostKey(toTechnician)
    const malloryWithTechnician = fakeHost.onReveal(reveal)
    const { reveal: fakeReveal, result: malloryWithHost } = fakeTechnician.onHostKey(toHost)
    const hostResult = host.onReveal(fakeReveal)

    // Both legs paired, so only comparing the words exposes Mallory.
    expect(technicianResult.sas).toBe(malloryWithTechnician.sas)
    expect(hostResult.sas).toBe(malloryWithHost.sas)
    expect(technicianResult.sas).not.toBe(hostResult.sas)

    // A frame relayed unchanged from one leg to the other does not open.
    const fromTechnician = technicianResult.channel.seal(new TextEncoder().encode('password'))
    expect(thrownCode(() => hostResult.channel.open(fromTechnician))).toBe('TAMPERED')
    const fromHost = hostResult.channel.seal(new TextEncoder().encode('ssh host key'))
    expect(thrownCode(() => technicianResult.channel.open(fromHost))).toBe('TAMPERED')
  })

  it('cannot reuse a commitment from another session', () => {
    const technician = createTechnicianHandshake(sessionId())
    const host = createHostHandshake(sessionId())
    const { reveal } = technician.onHostKey(host.onCommit(technician.commit()))
    expect(thrownCode(() => host.onReveal(reveal))).toBe('COMMITMENT_MISMATCH')
  })

  it.each(lowOrderPoints.map((point, i) => [i, point] as const))(
    'rejects low-order point #%i as BAD_KEY on both sides',
    (_, point) => {
      const technician = createTechnicianHandshake(sessionId())
      technician.commit()
      expect(thrownCode(() => technician.onHostKey(frame(FrameType.hostKey, point)))).toBe('BAD_KEY')

      const id = sessionId()
      const host = createHostHandshake(id)
      host.onCommit(frame(FrameType.commit, nacl.hash(Uint8Array.of(...point, ...id))))
      expect(thrownCode(() => host.onReveal(frame(FrameType.reveal, point)))).toBe('BAD_KEY')
    },
  )
})

describe('handshake misuse and bad frames', () => {
  it('throws UNEXPECTED for a step out of order or repeated', () => {
    const id = sessionId()
    const technician = createTechnicianHandshake(id)
    const host = createHostHandshake(id)
    expect(thrownCode(() => technician.onHostKey(frame(FrameType.hostKey, new Uint8Array(32))))).toBe(
      'UNEXPECTED',
    )
    expect(thrownCode(() => host.onReveal(frame(FrameType.reveal, new Uint8Array(32))))).toBe('UNEXPECTED')

    const commit = technician.commit()
    expect(thrownCode(() => technician.commit())).toBe('UNEXPECTED')
    const hostKey = host.onCommit(commit)
    expect(thrownCode(() => host.onCommit(commit))).toBe('UNEXPECTED')
    const { reveal } = technician.onHostKey(hostKey)
    expect(thrownCode(() => technician.onHostKey(hostKey))).toBe('UNEXPECTED')
    host.onReveal(reveal)
    expect(thrownCode(() => host.onReveal(reveal))).toBe('UNEXPECTED')
  })

  it('ends the handshake on the first failure, so a peer gets no second try', () => {
    const id = sessionId()
    const technician = createTechnicianHandshake(id)
    const host = createHostHandshake(id)
    const hostKey = host.onCommit(technician.commit())
    expect(thrownCode(() => technician.onHostKey(hostKey.subarray(1)))).toBe('MALFORMED')
    expect(thrownCode(() => technician.onHostKey(hostKey))).toBe('UNEXPECTED')

    const other = createHostHandshake(id)
    expect(thrownCode(() => other.onCommit(new Uint8Array(3)))).toBe('MALFORMED')
    expect(thrownCode(() => other.onCommit(frame(FrameType.commit, new Uint8Array(64))))).toBe('UNEXPECTED')
  })

  it('tells a wrong version or length (MALFORMED) from a frame for another step (UNEXPECTED)', () => {
    const host = () => createHostHandshake(sessionId())
    const commitBody = new Uint8Array(64)
    expect(thrownCode(() => host().onCommit(Uint8Array.of(2, 1, ...commitBody)))).toBe('MALFORMED')
    expect(thrownCode(() => host().onCommit(frame(FrameType.commit, commitBody.subarray(1))))).toBe(
      'MALFORMED',
    )
    expect(thrownCode(() => host().onCommit(frame(FrameType.commit, Uint8Array.of(...commitBody, 0))))).toBe(
      'MALFORMED',
    )
    expect(thrownCode(() => host().onCommit(frame(0x7f, commitBody)))).toBe('MALFORMED')
    expect(thrownCode(() => host().onCommit(frame(FrameType.reveal, new Uint8Array(32))))).toBe('UNEXPECTED')
    expect(thrownCode(() => host().onCommit(undefined as unknown as Uint8Array))).toBe('MALFORMED')
  })

  it('rejects a given key pair whose keys are not 32 bytes as BAD_KEY', () => {
    const id = sessionId()
    const good = () => nacl.box.keyPair()
    expect(thrownCode(() => technicianHandshakeWith(id, { ...good(), secretKey: new Uint8Array(31) }))).toBe(
      'BAD_KEY',
    )
    expect(thrownCode(() => hostHandshakeWith(id, { ...good(), publicKey: new Uint8Array(33) }))).toBe(
      'BAD_KEY',
    )
  })

  it('rejects an empty or oversized session id', () => {
    expect(thrownCode(() => createTechnicianHandshake(new Uint8Array(0)))).toBe('MALFORMED')
    expect(thrownCode(() => createHostHandshake(new Uint8Array(256)))).toBe('MALFORMED')
  })
})
