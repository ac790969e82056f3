/**
 * Typed errors and the exit codes they map to. Core throws these; the base command turns them
 * into a message, an optional next step, and the exit code declared here, without a stack trace.
 * This is the one place exit codes are declared.
 */

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  notLoggedIn: 3,
  authFailed: 4,
  pinInvalid: 5,
  pinExpired: 6,
  pinUsed: 7,
  rateLimited: 8,
  gatewayUnreachable: 9,
  pairingFailed: 10,
  connectionLost: 11,
  conflict: 12,
  /** The session ended before the remote shell or command did. */
  sessionEnded: 14,
  /** The end user refused (or did not answer) a consent prompt. Not 13: Node exits 13 on a hung top-level await. */
  denied: 15,
  /** Too many failed logins: the account is locked for a while or until an admin unlocks it. */
  locked: 16,
  /** The group policy or the caller's role forbids it (an address outside the allow-list, an admin action). */
  forbidden: 17,
  /** The host trusts an organisation key (`--trust`) and the technician had no valid certificate from it. */
  untrusted: 18,
  /** `rescue log --verify`: the host's audit log was changed (a link of its hash chain fails). */
  auditBroken: 19,
  bug: 70,
  /** Ended on purpose with Ctrl-C (SIGINT): 128 + 2, as shells report it. */
  interrupted: 130,
  /** Ended on purpose with SIGTERM: 128 + 15, as shells report it. */
  terminated: 143,
} as const

export type ErrorCode = keyof typeof ExitCode

/** A mistake or condition the user can act on: a message plus the next step. */
export class UserError extends Error {
  override readonly name = 'UserError'
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message)
  }

  get exitCode(): number {
    return ExitCode[this.code]
  }
}

/** Something that should never happen: our fault, reported with details. */
export class BugError extends Error {
  override readonly name = 'BugError'
  readonly code = 'bug' as const
  readonly exitCode = ExitCode.bug
}

/** The one JSON shape of an error, for `--json` output and the gateway's HTTP error bodies. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; hint?: string; exitCode: number }
}

export function toErrorBody(error: UserError | BugError): ErrorBody {
  const hint = error instanceof UserError ? error.hint : undefined
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(hint ? { hint } : {}),
      exitCode: error.exitCode,
    },
  }
}
