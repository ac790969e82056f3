import ssh2 from 'ssh2'
import { describe, expect, it } from 'vitest'
import { generateSshKeyPair, parsePeerPublicKey } from './keys.js'

describe('session SSH keys', () => {
  it('every generated pair parses, and its public half is an ed25519 key a peer accepts', () => {
    for (let i = 0; i < 300; i++) {
      const pair = generateSshKeyPair()
      expect(pair.publicKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/=]+/)
      const parsed = parsePeerPublicKey(pair.publicKey)
      expect(parsed?.type).toBe('ssh-ed25519')
      expect(ssh2.utils.parseKey(pair.privateKey)).not.toBeInstanceOf(Error)
    }
  })

  it('two pairs are never the same', () => {
    expect(generateSshKeyPair().publicKey).not.toBe(generateSshKeyPair().publicKey)
  })

  it('a peer key must be exactly one ed25519 public key', () => {
    const rsa = ssh2.utils.generateKeyPairSync('rsa', { bits: 1024 }).public
    expect(parsePeerPublicKey(rsa)).toBeUndefined()
    expect(parsePeerPublicKey('ssh-ed25519 not-base64!')).toBeUndefined()
    expect(parsePeerPublicKey('')).toBeUndefined()
  })
})
