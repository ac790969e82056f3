/**
 * "Did you mean" for a mistyped command: the nearest known word by edit distance (optimal string
 * alignment: insertions, deletions, substitutions and swaps of neighbours each cost one), or none
 * when nothing is near enough to be a typo.
 */

/** Edit distance between `a` and `b`, a swap of two neighbouring letters counting as one edit. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  const at = (i: number, j: number) => rows[i]![j]!
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1)
      rows[i]![j] = best
    }
  }
  return at(a.length, b.length)
}

/** The candidate nearest to `typed`, if it is within a typo's reach (2 edits, or a third of its length). */
export function closest(typed: string, candidates: readonly string[]): string | undefined {
  const reach = Math.max(2, Math.floor(typed.length / 3))
  let best: { word: string; distance: number } | undefined
  for (const word of candidates) {
    const distance = editDistance(typed.toLowerCase(), word.toLowerCase())
    if (distance <= reach && (!best || distance < best.distance)) best = { word, distance }
  }
  return best?.word
}
