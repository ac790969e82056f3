/**
 * What a new password must be: at least 12 characters and hard to guess (zxcvbn score 3 of 4,
 * against common passwords and the user's own email and name); and how long one lasts (90 days
 * unless the gateway says otherwise). Also makes one-time passwords for new and reset accounts.
 */
import { randomInt } from 'node:crypto'
import { UserError } from '../errors.js'

export const PASSWORD_POLICY = {
  minLength: 12,
  /** zxcvbn's 0-4 scale: 3 is "safely unguessable" (about 10^10 guesses). */
  minScore: 3,
  maxAgeMs: 90 * 24 * 60 * 60 * 1000,
}

type Checker = (password: string, userInputs: string[]) => { score: number; warning: string | null }
let checker: Promise<Checker> | undefined

/** zxcvbn and its dictionaries load on first use only: most commands never check a password. */
function loadChecker(): Promise<Checker> {
  return (checker ??= Promise.all([import('@zxcvbn-ts/core'), import('@zxcvbn-ts/language-common')]).then(
    ([coreModule, commonModule]) => {
      const core = namedExports(coreModule)
      const common = namedExports(commonModule)
      const factory = new core.ZxcvbnFactory({
        graphs: common.adjacencyGraphs,
        dictionary: { ...common.dictionary },
      })
      return (password, userInputs) => {
        const result = factory.check(password, userInputs)
        return { score: result.score, warning: result.feedback.warning }
      }
    },
  ))
}

/**
 * The bundle resolves these packages to their CommonJS builds (they declare no "exports"), whose
 * dynamic import puts everything under `default`; tsx and Node load the ES builds. Either works.
 */
function namedExports<T extends object>(module: T): T {
  const fallback = (module as { default?: T }).default
  return fallback && !Object.keys(module).some((key) => key !== 'default' && key !== '__esModule')
    ? fallback
    : module
}

// zxcvbn-ts gives keys without a language pack; these are the ones people meet most.
const WARNINGS: Record<string, string> = {
  topTen: 'it is one of the ten most common passwords',
  topHundred: 'it is one of the hundred most common passwords',
  common: 'it is a very common password',
  similarToCommon: 'it is too close to a common password',
  wordByItself: 'a single word is easy to guess',
  simpleRepeat: 'repeated characters are easy to guess',
  sequences: 'sequences like abc or 6543 are easy to guess',
  straightRow: 'a row of keys is easy to guess',
  keyPattern: 'a keyboard pattern is easy to guess',
  dates: 'dates are easy to guess',
  recentYears: 'recent years are easy to guess',
  userInputs: 'it contains your email or name',
}

/** Throws a usage error saying why when `password` may not become a password. */
export async function checkNewPassword(
  password: string,
  about: { email?: string; name?: string } = {},
): Promise<void> {
  const hint = 'use four or more unrelated words, or 16 random characters from a password manager'
  if ([...password].length < PASSWORD_POLICY.minLength) {
    throw new UserError(
      'usage',
      `the password must have at least ${PASSWORD_POLICY.minLength} characters`,
      hint,
    )
  }
  const userInputs = [about.email, about.email?.split('@')[0], about.name, 'rescue'].filter(
    (input): input is string => Boolean(input),
  )
  const { score, warning } = (await loadChecker())(password, userInputs)
  if (score < PASSWORD_POLICY.minScore) {
    const why = (warning && WARNINGS[warning]) ?? 'it is easy to guess'
    throw new UserError('usage', `the password is too weak: ${why}`, hint)
  }
}

/** Whether a password set at `changedAt` is older than `maxAgeMs` at `now`; unknown age counts as expired. */
export function passwordExpired(changedAt: string | null, now: number, maxAgeMs: number): boolean {
  if (!changedAt) return true
  return now - Date.parse(changedAt) > maxAgeMs
}

// No 0/O, 1/l/I: read aloud or copied by hand without mistakes.
const ONE_TIME_ALPHABET = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789'

/** A one-time password from the CSPRNG: 4 groups of 5 characters, about 115 bits. */
export function oneTimePassword(): string {
  const groups = Array.from({ length: 4 }, () =>
    Array.from({ length: 5 }, () => ONE_TIME_ALPHABET[randomInt(ONE_TIME_ALPHABET.length)]).join(''),
  )
  return groups.join('-')
}
