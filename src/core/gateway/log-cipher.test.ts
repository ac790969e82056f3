import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { LOG_KEY_FILE, LogCipher } from './log-cipher.js'

describe('LogCipher', () => {
  it('opens what it sealed for the same session, and nothing sealed for another or altered', () => {
    const cipher = LogCipher.random()
    const sealed = cipher.seal('{"text":"hello"}', 'session-a')
    expect(sealed).toMatch(/^v1:/)
    expect(sealed).not.toContain('hello')
    expect(cipher.open(sealed, 'session-a')).toBe('{"text":"hello"}')
    expect(() => cipher.open(sealed, 'session-b')).toThrow()
    const bytes = Buffer.from(sealed.slice(3), 'base64')
    bytes[bytes.length - 1]! ^= 1
    expect(() => cipher.open(`v1:${bytes.toString('base64')}`, 'session-a')).toThrow()
    expect(() => LogCipher.random().open(sealed, 'session-a')).toThrow()
  })

  it('keeps its key in the data folder, 0600, and finds the same key next time', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-logkey-'))
    try {
      const sealed = LogCipher.forDataDir(dir, {}).seal('x', 's')
      expect(fs.statSync(path.join(dir, LOG_KEY_FILE)).mode & 0o777).toBe(0o600)
      expect(LogCipher.forDataDir(dir, {}).open(sealed, 's')).toBe('x')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('takes a shared key from RESCUE_LOG_KEY, and says how to make one when it is malformed', () => {
    const key = Buffer.alloc(32, 7).toString('base64')
    const a = LogCipher.forDataDir('/nonexistent', { RESCUE_LOG_KEY: key })
    const b = LogCipher.forDataDir('/nonexistent', { RESCUE_LOG_KEY: key })
    expect(b.open(a.seal('shared', 's'), 's')).toBe('shared')
    expect(() => LogCipher.forDataDir('/nonexistent', { RESCUE_LOG_KEY: 'c2hvcnQ=' })).toThrow(
      expect.objectContaining({
        message: expect.stringContaining('32 bytes'),
        hint: 'make one with: openssl rand -base64 32',
      }),
    )
  })
})
