import { UserError } from '../core/errors.js'

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses "90s", "20m", "2h", "30d" into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*([smhd])$/.exec(text.trim())
  if (!match) throw new UserError('usage', `"${text}" is not a duration`, 'write it like 90s, 20m, 2h or 30d')
  const ms = Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 1000)
  if (ms === 0)
    throw new UserError('usage', 'a duration of zero means nothing here', 'write it like 90s, 20m, 2h or 30d')
  return ms
}
