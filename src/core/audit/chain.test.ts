import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkChain, GENESIS, linkTo } from './chain.js'

/** Lines as the audit log writes them: each links to the non-blank line before it. */
function chain(bodies: object[], before: string[] = []): string[] {
  const lines = [...before]
  for (const body of bodies) {
    const last = lines.findLast((line) => line.trim() !== '')
    lines.push(JSON.stringify({ ...body, prev: last === undefined ? GENESIS : linkTo(last) }))
  }
  return lines
}

const text = (lines: string[]) => `${lines.join('\n')}\n`
const bodies = Array.from({ length: 6 }, (_, i) => ({
  time: `2025-03-04T05:06:0${i}.000Z`,
  session: 'abcdefghijklmnopqrstuvwxyz',
  event: 'chat',
  text: `message ${i}`,
}))
const legacy = bodies.slice(0, 3).map((body) => JSON.stringify({ ...body, text: `old ${body.text}` }))

describe('checkChain', () => {
  it('finds an untouched log intact, counting its entries', () => {
    expect(checkChain(text(chain(bodies)))).toEqual({ status: 'intact', entries: 6, unchained: 0 })
  })

  it('finds an empty log intact with no entries, and ignores blank lines', () => {
    expect(checkChain('')).toEqual({ status: 'intact', entries: 0, unchained: 0 })
    const lines = chain(bodies)
    lines.splice(2, 0, '', '   ')
    expect(checkChain(text(lines))).toEqual({ status: 'intact', entries: 6, unchained: 0 })
  })

  it('reports an edited entry at the line after it, naming the edited line', () => {
    const lines = chain(bodies)
    lines[2] = lines[2]!.replace('message 2', 'message 9')
    expect(checkChain(text(lines))).toEqual({
      status: 'broken',
      entries: 3,
      line: 4,
      reason: expect.stringMatching(/^line 4 does not link to line 3: line 3 was edited/),
    })
  })

  it('reports a removed entry where the chain resumes', () => {
    const lines = chain(bodies)
    lines.splice(3, 1)
    expect(checkChain(text(lines))).toMatchObject({ status: 'broken', line: 4 })
  })

  it('reports entries removed from the start at line 1', () => {
    const lines = chain(bodies).slice(2)
    expect(checkChain(text(lines))).toEqual({
      status: 'broken',
      entries: 0,
      line: 1,
      reason: expect.stringMatching(/entries before it were removed/),
    })
  })

  it('reports an inserted entry: without a link at itself, with a forged link at the line after it', () => {
    const lines = chain(bodies)
    const forged = { ...bodies[0], text: 'I was never here' }
    const bare = [...lines]
    bare.splice(3, 0, JSON.stringify(forged))
    expect(checkChain(text(bare))).toMatchObject({
      status: 'broken',
      line: 4,
      reason: expect.stringMatching(/^line 4 has no link/),
    })

    const linked = [...lines]
    linked.splice(3, 0, JSON.stringify({ ...forged, prev: linkTo(lines[2]!) }))
    expect(checkChain(text(linked))).toMatchObject({ status: 'broken', line: 5 })

    const restarted = [...lines]
    restarted.splice(3, 0, JSON.stringify({ ...forged, prev: GENESIS }))
    expect(checkChain(text(restarted))).toMatchObject({
      status: 'broken',
      line: 4,
      reason: expect.stringMatching(/links to the start of a log/),
    })
  })

  it('reports two entries swapped at the first of them', () => {
    const lines = chain(bodies)
    ;[lines[2], lines[3]] = [lines[3]!, lines[2]!]
    expect(checkChain(text(lines))).toMatchObject({ status: 'broken', line: 3 })
  })

  it('reports a line that is not JSON, or whose link was damaged, after the chain began', () => {
    const cut = chain(bodies)
    cut[2] = cut[2]!.slice(0, 30)
    expect(checkChain(text(cut))).toMatchObject({ status: 'broken', line: 3 })
    const damaged = chain(bodies)
    damaged[1] = damaged[1]!.replace(/"prev":"[0-9a-f]{4}/, '"prev":"zzzz')
    expect(checkChain(text(damaged))).toMatchObject({ status: 'broken', line: 2 })
  })

  it('calls a log written before the chain existed unchained, not changed', () => {
    expect(checkChain(text(legacy))).toEqual({ status: 'unchained', entries: 3 })
  })

  it('checks entries chained after older unchained ones, from the last unchained line on', () => {
    const upgraded = chain(bodies, legacy)
    expect(checkChain(text(upgraded))).toEqual({ status: 'intact', entries: 9, unchained: 3 })
    const edited = [...upgraded]
    edited[2] = edited[2]!.replace('old', 'new')
    expect(checkChain(text(edited))).toMatchObject({ status: 'broken', line: 4 })
    // Unchained lines after chained ones were not written by rescue.
    expect(checkChain(text([...upgraded, legacy[0]!]))).toMatchObject({ status: 'broken', line: 10 })
  })

  it('property: any change to one character of an entry but the last breaks the chain there', () => {
    const lines = chain(bodies)
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: lines.length - 2 }),
        fc.nat(),
        fc.string({ minLength: 1, maxLength: 1 }),
        (index, at, char) => {
          const line = lines[index]!
          const position = at % line.length
          fc.pre(line[position] !== char && char !== '\n')
          const changed = [...lines]
          changed[index] = line.slice(0, position) + char + line.slice(position + 1)
          const check = checkChain(text(changed))
          expect(check.status).toBe('broken')
          if (check.status === 'broken') expect(check.line).toBeLessThanOrEqual(index + 2)
        },
      ),
    )
  })

  it('property: never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (anything) => {
        expect(['intact', 'unchained', 'broken']).toContain(checkChain(anything).status)
      }),
    )
  })
})
