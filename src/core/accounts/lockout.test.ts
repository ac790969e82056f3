import { describe, expect, it } from 'vitest'
import { afterFailure, lockedUntil, UNLOCKED } from './lockout.js'

const settings = { maxFailures: 5, lockoutMs: 15 * 60_000 }
const T0 = Date.UTC(2030, 0, 1)

describe('lockout', () => {
  it('locks at the fifth failure in a row, for the lockout time', () => {
    let state = { ...UNLOCKED }
    for (let failure = 1; failure <= 4; failure++) {
      state = afterFailure(state, T0, settings)
      expect(state.failed_logins).toBe(failure)
      expect(lockedUntil(state, T0)).toBeUndefined()
    }
    state = afterFailure(state, T0, settings)
    expect(lockedUntil(state, T0)?.getTime()).toBe(T0 + settings.lockoutMs)
    expect(lockedUntil(state, T0 + settings.lockoutMs - 1)).toBeDefined()
    expect(lockedUntil(state, T0 + settings.lockoutMs)).toBeUndefined()
  })

  it('counts again from one once a lock ran out', () => {
    let state = { ...UNLOCKED }
    for (let failure = 0; failure < 5; failure++) state = afterFailure(state, T0, settings)
    const later = T0 + settings.lockoutMs + 1
    state = afterFailure(state, later, settings)
    expect(state).toEqual({ failed_logins: 1, locked_until: null })
  })
})
