import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { UserError } from '../errors.js'
import { findToken, forgetLogin, loadLogin, requireLogin, saveLogin } from './index.js'

const SERVER = 'https://rescue.example.com'
const OTHER = 'http://127.0.0.1:8080'
const VARIABLES = ['XDG_CONFIG_HOME', 'RESCUE_CREDENTIAL_STORE', 'RESCUE_TOKEN'] as const

let saved: Record<string, string | undefined>
let home: string
let dir: string

beforeEach(() => {
  saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]))
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-credentials-'))
  dir = path.join(home, 'rescue')
  process.env.XDG_CONFIG_HOME = home
  // Never touch the developer's real keychain.
  process.env.RESCUE_CREDENTIAL_STORE = 'file'
  delete process.env.RESCUE_TOKEN
})

afterEach(() => {
  for (const name of VARIABLES) {
    if (saved[name] === undefined) delete process.env[name]
    else process.env[name] = saved[name]
  }
  fs.rmSync(home, { recursive: true, force: true })
})

const mode = (file: string) => fs.statSync(file).mode & 0o777
const readJson = (file: string): unknown => JSON.parse(fs.readFileSync(file, 'utf8'))

function thrown(run: () => unknown): UserError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(UserError)
    return error as UserError
  }
  throw new Error('expected a UserError')
}

describe('credentials in a file', () => {
  it('saves the login to config.json and the token to tokens.json', () => {
    expect(saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')).toBe('file')
    expect(readJson(path.join(dir, 'config.json'))).toEqual({ server: SERVER, email: 'ada@example.com' })
    expect(readJson(path.join(dir, 'tokens.json'))).toEqual({ [SERVER]: 'tok-1' })
    expect(loadLogin()).toEqual({ server: SERVER, email: 'ada@example.com' })
  })

  it.skipIf(process.platform === 'win32')(
    'keeps the files readable by their owner only, in a directory only the owner can enter',
    () => {
      saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')
      expect(mode(dir)).toBe(0o700)
      expect(mode(path.join(dir, 'config.json'))).toBe(0o600)
      expect(mode(path.join(dir, 'tokens.json'))).toBe(0o600)
      // No temporary file is left behind.
      expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'tokens.json'])
    },
  )

  it('finds the saved token, saying it came from the file', () => {
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')
    expect(findToken(SERVER)).toEqual({ token: 'tok-1', source: 'file' })
    expect(findToken(OTHER)).toBeUndefined()
    expect(requireLogin()).toEqual({ server: SERVER, token: 'tok-1' })
  })

  it('replaces the token when logging in again to the same gateway', () => {
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-2')
    expect(findToken(SERVER)).toEqual({ token: 'tok-2', source: 'file' })
  })

  it('lets RESCUE_TOKEN override the saved token', () => {
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')
    process.env.RESCUE_TOKEN = 'from-env'
    expect(findToken(SERVER)).toEqual({ token: 'from-env', source: 'environment' })
    expect(findToken(OTHER)).toEqual({ token: 'from-env', source: 'environment' })
    expect(requireLogin()).toEqual({ server: SERVER, token: 'from-env' })
    expect(requireLogin(OTHER)).toEqual({ server: OTHER, token: 'from-env' })
  })

  it('ignores an empty RESCUE_TOKEN', () => {
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')
    process.env.RESCUE_TOKEN = ''
    expect(findToken(SERVER)).toEqual({ token: 'tok-1', source: 'file' })
  })

  it('asks the user to log in when nothing is saved', () => {
    expect(loadLogin()).toBeUndefined()
    expect(findToken(SERVER)).toBeUndefined()
    const error = thrown(() => requireLogin())
    expect(error.code).toBe('notLoggedIn')
    expect(error.exitCode).toBe(3)
    expect(error.hint).toMatch(/rescue login/)
  })

  it('asks the user to log in to a gateway given with --server that has no token', () => {
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')
    const error = thrown(() => requireLogin(OTHER))
    expect(error.code).toBe('notLoggedIn')
    expect(error.message).toContain(OTHER)
    expect(error.hint).toMatch(/rescue login/)
  })

  it('treats an unreadable config or token file as not logged in', () => {
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, 'config.json'), '{ not json')
    fs.writeFileSync(path.join(dir, 'tokens.json'), '["tok"]')
    expect(loadLogin()).toBeUndefined()
    expect(findToken(SERVER)).toBeUndefined()
    expect(thrown(() => requireLogin()).code).toBe('notLoggedIn')
    // Logging in again repairs both.
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')
    expect(requireLogin()).toEqual({ server: SERVER, token: 'tok-1' })
  })

  it('forgets the token and the login on logout', () => {
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')
    forgetLogin(SERVER)
    expect(findToken(SERVER)).toBeUndefined()
    expect(loadLogin()).toBeUndefined()
    expect(fs.existsSync(path.join(dir, 'config.json'))).toBe(false)
    expect(readJson(path.join(dir, 'tokens.json'))).toEqual({})
    expect(thrown(() => requireLogin()).code).toBe('notLoggedIn')
  })

  it('forgetting a gateway never logged in to changes nothing', () => {
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')
    forgetLogin(OTHER)
    expect(requireLogin()).toEqual({ server: SERVER, token: 'tok-1' })
  })

  it('forgetting works when nothing was ever saved', () => {
    expect(() => forgetLogin(SERVER)).not.toThrow()
    expect(loadLogin()).toBeUndefined()
  })

  it('keeps a separate token per gateway', () => {
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-a')
    saveLogin({ server: OTHER, email: 'grace@example.org' }, 'tok-b')
    expect(findToken(SERVER)).toEqual({ token: 'tok-a', source: 'file' })
    expect(findToken(OTHER)).toEqual({ token: 'tok-b', source: 'file' })
    // The last login is the default gateway; the other stays usable with --server.
    expect(requireLogin()).toEqual({ server: OTHER, token: 'tok-b' })
    expect(requireLogin(SERVER)).toEqual({ server: SERVER, token: 'tok-a' })

    // Logging out of the non-default gateway keeps the default login and its token.
    forgetLogin(SERVER)
    expect(findToken(SERVER)).toBeUndefined()
    expect(requireLogin()).toEqual({ server: OTHER, token: 'tok-b' })
    expect(loadLogin()).toEqual({ server: OTHER, email: 'grace@example.org' })
  })

  it('follows XDG_CONFIG_HOME when it changes', () => {
    saveLogin({ server: SERVER, email: 'ada@example.com' }, 'tok-1')
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-credentials-'))
    try {
      process.env.XDG_CONFIG_HOME = elsewhere
      expect(findToken(SERVER)).toBeUndefined()
      expect(loadLogin()).toBeUndefined()
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true })
    }
  })
})
