import { UserError } from '../core/errors.js'

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 }

/** Parses "90s", "20m", "2h" into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*([smh])$/.exec(text.trim())
  if (!match) throw new UserError('usage', `"${text}" is not a duration`, 'write it like 90s, 20m or 2h')
  const ms = Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 1000)
  if (ms === 0)
    throw new UserError('usage', 'a duration of zero means nothing here', 'write it like 90s, 20m or 2h')
  return ms
}
