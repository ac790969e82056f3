import { describe, expect, it } from 'vitest'

import { UserError } from '../core/errors.js'
import { parseDuration } from './duration.js'

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['20m', 1_200_000],
    ['2h', 7_200_000],
    ['1m', 60_000],
    ['24h', 86_400_000],
    [' 20m ', 1_200_000],
    ['20 m', 1_200_000],
    ['30d', 2_592_000_000],
  ])('reads %j as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  it.each(['20', 'm', '-5m', '1.5h', '', ' ', '20x', '20ms', '2h30m', '1e3s', '20M', 'twenty minutes'])(
    'rejects %j with a usage error that shows how to write a duration',
    (text) => {
      let error: unknown
      try {
        parseDuration(text)
      } catch (caught) {
        error = caught
      }
      expect(error).toBeInstanceOf(UserError)
      expect((error as UserError).code).toBe('usage')
      expect((error as UserError).exitCode).toBe(2)
      expect((error as UserError).message).toContain(`"${text}"`)
      expect((error as UserError).hint).toMatch(/90s.*20m.*2h/)
    },
  )
})
