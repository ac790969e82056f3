import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UserError } from '../errors.js'
import {
  ensureDeviceKey,
  initCa,
  installCertificate,
  loadDeviceCredential,
  readTrustAnchors,
  signDeviceCertificate,
} from './store.js'

const VARIABLES = ['XDG_CONFIG_HOME', 'RESCUE_CREDENTIAL_STORE'] as const
let saved: Record<string, string | undefined>
let dir: string

beforeEach(() => {
  saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]))
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-trust-store-'))
  process.env.XDG_CONFIG_HOME = path.join(dir, 'config')
  // Never touch the developer's real keychain.
  process.env.RESCUE_CREDENTIAL_STORE = 'file'
})
afterEach(() => {
  for (const name of VARIABLES) {
    if (saved[name] === undefined) delete process.env[name]
    else process.env[name] = saved[name]
  }
  fs.rmSync(dir, { recursive: true, force: true })
})

const day = 86_400_000

describe('trust material on disk', () => {
  it('a CA file others can read is refused, as OpenSSH refuses such private keys', () => {
    const file = path.join(dir, 'ca.key')
    initCa(file, 'Acme IT')
    fs.chmodSync(file, 0o644)
    const device = ensureDeviceKey()
    expect(() =>
      signDeviceCertificate({ caFile: file, email: 'a@b.example', deviceKey: device.line, ttlMs: day }),
    ).toThrow('can be read by other users')
  })

  it('the device key is made once and kept; a certificate for it is presented, one for an expired window is not installed', () => {
    const first = ensureDeviceKey('alice@acme.example')
    expect(first.created).toBe(true)
    expect(first.store).toBe('file')
    const again = ensureDeviceKey()
    expect(again.created).toBe(false)
    expect(again.fingerprint).toBe(first.fingerprint)
    expect(loadDeviceCredential()).toBeUndefined()

    const file = path.join(dir, 'ca.key')
    initCa(file, 'Acme IT')
    const old = signDeviceCertificate({
      caFile: file,
      email: 'alice@acme.example',
      deviceKey: first.line,
      ttlMs: day,
      now: new Date(Date.now() - 2 * day),
    })
    expect(() => installCertificate(old.certificate)).toThrow(/expired on/)
    const fresh = signDeviceCertificate({
      caFile: file,
      email: 'alice@acme.example',
      deviceKey: first.line,
      ttlMs: day,
    })
    installCertificate(`${fresh.certificate}\n`)
    expect(loadDeviceCredential()?.certificate).toBe(fresh.certificate)
  })

  it('trust files hold one key a line, with comments; anything else is a usage error naming the line', () => {
    const ca = initCa(path.join(dir, 'ca.key'), 'Acme IT')
    const good = path.join(dir, 'trusted.pub')
    fs.writeFileSync(good, `# our CA\n\n${ca.publicKey}\n`)
    expect(readTrustAnchors({ files: [good], keys: [ca.publicKey] })).toHaveLength(2)
    const bad = path.join(dir, 'bad.pub')
    fs.writeFileSync(bad, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ7y\n')
    expect(() => readTrustAnchors({ files: [bad] })).toThrow(UserError)
    expect(() => readTrustAnchors({ keys: ['rescue-device-ed25519 AAAA'] })).toThrow(
      '--trust is not a rescue-ca-ed25519 key',
    )
  })
})
