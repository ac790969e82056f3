/**
 * Where a technician's login lives: the gateway URL and email in config.json, the token in the
 * OS keychain (@napi-rs/keyring), or in a 0600 file when no keychain service answers.
 * RESCUE_TOKEN overrides both, for scripts. The technician's device key (core/trust) is kept the same
 * way, under its own name. Imports core only.
 */
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import type { Entry } from '@napi-rs/keyring'
import { z } from 'zod'
import { UserError } from '../errors.js'
import { configDir } from '../paths.js'

const KEYCHAIN_SERVICE = 'rescue'

export type TokenSource = 'environment' | 'keychain' | 'file'

export interface SavedLogin {
  server: string
  email: string
}

const savedLogin = z.object({ server: z.string(), email: z.string() })
const tokenFile = z.record(z.string(), z.string())

const loginPath = () => path.join(configDir(), 'config.json')
const tokenFilePath = () => path.join(configDir(), 'tokens.json')

function readJson<T>(file: string, schema: z.ZodType<T>): T | undefined {
  try {
    return schema.parse(JSON.parse(fs.readFileSync(file, 'utf8')))
  } catch {
    return undefined
  }
}

/** Writes a file only its owner can read, inside a 0700 directory, atomically. */
function writePrivate(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const temporary = `${file}.${process.pid}.tmp`
  fs.writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 })
  fs.renameSync(temporary, file)
}

// Tests and headless machines can skip the keychain, so nothing touches a developer's real one.
const keychainDisabled = () => process.env.RESCUE_CREDENTIAL_STORE === 'file'

// Loaded on first use: a native addon costs start-up time that RESCUE_TOKEN or the file store never need.
let keyring: typeof import('@napi-rs/keyring') | undefined
function loadKeyring(): typeof import('@napi-rs/keyring') {
  return (keyring ??= createRequire(import.meta.url)('@napi-rs/keyring') as typeof import('@napi-rs/keyring'))
}

/** Runs a keychain call; undefined when no keychain service answers (errors all carry GenericFailure). */
function keychain<T>(call: (entry: Entry) => T, server: string): T | undefined {
  if (keychainDisabled()) return undefined
  try {
    return call(new (loadKeyring().Entry)(KEYCHAIN_SERVICE, server))
  } catch {
    return undefined
  }
}

export function loadLogin(): SavedLogin | undefined {
  return readJson(loginPath(), savedLogin)
}

/** Saves the login and its token; says where the token went. */
export function saveLogin(login: SavedLogin, token: string): TokenSource {
  writePrivate(loginPath(), login)
  const stored = keychain((entry) => {
    entry.setPassword(token)
    return entry.getPassword() === token
  }, login.server)
  if (stored) {
    removeFileToken(login.server)
    return 'keychain'
  }
  const tokens = readJson(tokenFilePath(), tokenFile) ?? {}
  writePrivate(tokenFilePath(), { ...tokens, [login.server]: token })
  return 'file'
}

function removeFileToken(server: string): void {
  const tokens = readJson(tokenFilePath(), tokenFile)
  if (!tokens || !(server in tokens)) return
  delete tokens[server]
  writePrivate(tokenFilePath(), tokens)
}

/** The token to use against `server`: RESCUE_TOKEN, then the keychain, then the file. */
export function findToken(server: string): { token: string; source: TokenSource } | undefined {
  const fromEnvironment = process.env.RESCUE_TOKEN
  if (fromEnvironment) return { token: fromEnvironment, source: 'environment' }
  const fromKeychain = keychain((entry) => entry.getPassword(), server)
  if (fromKeychain) return { token: fromKeychain, source: 'keychain' }
  const fromFile = readJson(tokenFilePath(), tokenFile)?.[server]
  return fromFile ? { token: fromFile, source: 'file' } : undefined
}

/** The saved gateway and a token for it, or a UserError saying how to log in. */
export function requireLogin(serverOverride?: string): { server: string; token: string } {
  const server = serverOverride ?? loadLogin()?.server
  if (!server && process.env.RESCUE_TOKEN) {
    throw new UserError(
      'usage',
      'RESCUE_TOKEN is set, but there is no gateway to use it with',
      'give --server URL or set RESCUE_SERVER',
    )
  }
  if (!server) {
    throw new UserError(
      'notLoggedIn',
      'you are not logged in to a gateway',
      'run rescue login --server URL --email EMAIL',
    )
  }
  const found = findToken(server)
  if (!found) throw new UserError('notLoggedIn', `you are not logged in to ${server}`, 'run rescue login')
  return { server, token: found.token }
}

/** Forgets the token for `server` wherever it was kept. */
export function forgetLogin(server: string): void {
  keychain((entry) => entry.deletePassword(), server)
  removeFileToken(server)
  if (loadLogin()?.server === server) fs.rmSync(loginPath(), { force: true })
}

const secretFilePath = () => path.join(configDir(), 'secrets.json')

/** Keeps a secret of this machine (the device key) in the keychain, or in a 0600 file when none answers. */
export function saveSecret(name: string, secret: string): Exclude<TokenSource, 'environment'> {
  const stored = keychain((entry) => {
    entry.setPassword(secret)
    return entry.getPassword() === secret
  }, name)
  if (stored) return 'keychain'
  const secrets = readJson(secretFilePath(), tokenFile) ?? {}
  writePrivate(secretFilePath(), { ...secrets, [name]: secret })
  return 'file'
}

/** A secret saved by `saveSecret`, and where it was found. */
export function findSecret(
  name: string,
): { secret: string; source: Exclude<TokenSource, 'environment'> } | undefined {
  const fromKeychain = keychain((entry) => entry.getPassword(), name)
  if (fromKeychain) return { secret: fromKeychain, source: 'keychain' }
  const fromFile = readJson(secretFilePath(), tokenFile)?.[name]
  return fromFile ? { secret: fromFile, source: 'file' } : undefined
}

/** Forgets a secret saved by `saveSecret`, wherever it was kept; true when there was one. */
export function deleteSecret(name: string): boolean {
  const fromKeychain = keychain((entry) => entry.deletePassword(), name) === true
  const secrets = readJson(secretFilePath(), tokenFile)
  if (!secrets || !(name in secrets)) return fromKeychain
  delete secrets[name]
  writePrivate(secretFilePath(), secrets)
  return true
}
