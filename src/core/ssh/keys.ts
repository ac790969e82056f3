/**
 * Fresh ed25519 SSH keys, one pair per session and side. ssh2's generator returns a key it cannot
 * parse back about 1 time in 200 (mscdex/ssh2 #1390, #1513), so each pair is parsed and made to
 * sign and verify before it is used, and regenerated when it fails.
 */
import ssh2 from 'ssh2'
import { BugError } from '../errors.js'

const { utils } = ssh2

export interface SshKeyPair {
  /** OpenSSH private key text; never leaves this process. */
  privateKey: string
  /** `ssh-ed25519 AAAA...`: sent to the peer inside the sealed channel. */
  publicKey: string
}

const ATTEMPTS = 10

export function generateSshKeyPair(): SshKeyPair {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519')
    if (isUsable(pair.private, pair.public))
      return { privateKey: pair.private, publicKey: pair.public.trim() }
  }
  throw new BugError(`could not generate a usable ed25519 SSH key in ${ATTEMPTS} attempts`)
}

function isUsable(privateText: string, publicText: string): boolean {
  const privateKey = utils.parseKey(privateText)
  const publicKey = utils.parseKey(publicText)
  if (privateKey instanceof Error || publicKey instanceof Error) return false
  const data = Buffer.from('rescue key check')
  const signature = privateKey.sign(data)
  if (signature instanceof Error) return false
  return (
    publicKey.verify(data, signature) === true && publicKey.getPublicSSH().equals(privateKey.getPublicSSH())
  )
}

/** Parses a peer's `ssh-ed25519 ...` public key; undefined when it is not exactly one ed25519 key. */
export function parsePeerPublicKey(text: string): ssh2.ParsedKey | undefined {
  const parsed = utils.parseKey(text)
  if (parsed instanceof Error || Array.isArray(parsed) || parsed.type !== 'ssh-ed25519') return undefined
  return parsed
}

/** The OpenSSH public key line of an OpenSSH private key (a host key kept across a restart). */
export function publicKeyOf(privateText: string): string {
  const parsed = utils.parseKey(privateText)
  if (parsed instanceof Error || Array.isArray(parsed)) throw new BugError('an unreadable SSH private key')
  return `${parsed.type} ${parsed.getPublicSSH().toString('base64')}`
}
