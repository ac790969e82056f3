/**
 * The audit log's hash chain: each line carries `prev`, the SHA-256 of the line before it (of its
 * exact text, without the new line), and the first line of a log carries GENESIS. Editing,
 * removing, inserting or reordering a line then breaks the link of the line after it.
 *
 * What it does not prove: someone who can write the file can rebuild every link after a change,
 * and nothing links to the last entry, so an edit of the last entry, or entries cut off the end,
 * go unseen. It tells an honest log from one edited by hand or by a careless tool; the copy that
 * is out of reach of this computer is the gateway's sealed session log.
 *
 * Lines written before the chain existed (rescue before the audit log was chained) carry no
 * `prev`: a log that starts with them is "unchained" up to its first chained line, whose link
 * is the hash of the last of them. Blank lines are not entries and are not part of the chain.
 */
import { createHash } from 'node:crypto'

/** The link of a log's first line. */
export const GENESIS = '0'.repeat(64)

/** The link to `line`: the SHA-256 of its text, in hex. */
export function linkTo(line: string): string {
  return createHash('sha256').update(line, 'utf8').digest('hex')
}

export type ChainCheck =
  /** Every chained line links to the one before; `unchained` lines before the chain cannot be checked. */
  | { status: 'intact'; entries: number; unchained: number }
  /** No line carries a link: a log written before the chain existed (or emptied of its links). */
  | { status: 'unchained'; entries: number }
  /** `line` (from 1, as an editor counts, blank lines included) is the first whose link fails. */
  | { status: 'broken'; entries: number; line: number; reason: string }

const LINK = /^[0-9a-f]{64}$/

/** The `prev` of a line, when it is a JSON object that has a well-formed one. */
function linkOf(line: string): string | undefined {
  try {
    const value: unknown = JSON.parse(line)
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    const prev = (value as { prev?: unknown }).prev
    return typeof prev === 'string' && LINK.test(prev) ? prev : undefined
  } catch {
    return undefined
  }
}

/** Checks the whole chain of a log's text; never throws, whatever the text. */
export function checkChain(text: string): ChainCheck {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  let expected = GENESIS
  let previous: number | undefined
  let chained = 0
  let unchained = 0
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue
    const number = index + 1
    const link = linkOf(line)
    const broken = (reason: string): ChainCheck => ({
      status: 'broken',
      entries: unchained + chained,
      line: number,
      reason,
    })
    if (link === undefined) {
      if (chained > 0) {
        return broken(
          `line ${number} has no link to the entry before it: it was inserted, or edited so that its link was lost`,
        )
      }
      unchained++
    } else if (link !== expected) {
      if (previous === undefined) {
        return broken(
          `line ${number} is the first entry, but links to an entry before it: the entries before it were removed`,
        )
      }
      if (link === GENESIS) {
        return broken(
          `line ${number} links to the start of a log, not to line ${previous}: it was inserted, or entries before it were removed`,
        )
      }
      return broken(
        `line ${number} does not link to line ${previous}: line ${previous} was edited, or entries were removed, inserted or reordered between them`,
      )
    } else {
      chained++
    }
    expected = linkTo(line)
    previous = number
  }
  if (chained === 0 && unchained > 0) return { status: 'unchained', entries: unchained }
  return { status: 'intact', entries: chained + unchained, unchained }
}
