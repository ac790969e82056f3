/**
 * What the host knows of this session's file transfers, shared by its SFTP channels and the
 * transfer service: which files the end user let the technician open, what the technician says a
 * file it is sending must hash to, and what each finished transfer hashed to. Paths are the host's
 * real paths (links resolved as the SFTP server resolves them), never sanitized copies.
 */

/** What the technician says the file it is putting at a path must be. */
export interface Expectation {
  size: number
  sha256: string
}

/** A transfer as the host saw it end: `bytes` and `sha256` describe the file's first `bytes` bytes. */
export interface TransferOutcome {
  bytes: number
  sha256: string
  complete: boolean
}

// A session may move many files; remembering a bounded number keeps a hostile peer from growing it.
const MAX_ENTRIES = 100_000

export class TransferLedger {
  private readonly opened = new Set<string>()
  private readonly expectations = new Map<string, Expectation>()
  private readonly outcomes = new Map<string, TransferOutcome>()

  /** The end user allowed these paths to be opened for a transfer in this session. */
  noteOpened(...paths: string[]): void {
    for (const where of paths) remember(this.opened, where)
  }

  /** True when the file at `where` was opened for a transfer in this session. */
  wasOpened(where: string): boolean {
    return this.opened.has(where)
  }

  expect(target: string, expectation: Expectation): void {
    if (this.expectations.size >= MAX_ENTRIES) this.expectations.clear()
    this.expectations.set(target, expectation)
  }

  /** The expectation for an upload to `target`, used once: the next upload needs its own. */
  takeExpectation(target: string): Expectation | undefined {
    const expectation = this.expectations.get(target)
    this.expectations.delete(target)
    return expectation
  }

  record(where: string, outcome: TransferOutcome): void {
    if (this.outcomes.size >= MAX_ENTRIES) this.outcomes.clear()
    this.outcomes.set(where, outcome)
  }

  /** How the last transfer of `where` ended, if there was one in this session. */
  outcome(where: string): TransferOutcome | undefined {
    return this.outcomes.get(where)
  }
}

function remember(set: Set<string>, value: string): void {
  if (set.size >= MAX_ENTRIES) set.clear()
  set.add(value)
}
