import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EscapeFilter } from './escapes.js'

const feed = (filter: EscapeFilter, text: string) => {
  const { forward, actions } = filter.feed(Buffer.from(text))
  return { text: forward.toString('latin1'), actions }
}

describe('ssh escapes on the technician keyboard', () => {
  it('~. as the first keys leaves without sending anything', () => {
    expect(feed(new EscapeFilter(), '~.')).toEqual({ text: '', actions: ['disconnect'] })
  })

  it('~. after Enter leaves; what came before is still sent', () => {
    expect(feed(new EscapeFilter(), 'ls\r~.rm -rf')).toEqual({ text: 'ls\r', actions: ['disconnect'] })
  })

  it('works when ~ and . arrive in separate reads, as typed keys do', () => {
    const filter = new EscapeFilter()
    expect(feed(filter, 'echo\r')).toEqual({ text: 'echo\r', actions: [] })
    expect(feed(filter, '~')).toEqual({ text: '', actions: [] })
    expect(feed(filter, '.')).toEqual({ text: '', actions: ['disconnect'] })
  })

  it('a ~ in the middle of a line is just a character', () => {
    expect(feed(new EscapeFilter(), 'cd ~.\r')).toEqual({ text: 'cd ~.\r', actions: [] })
  })

  it('~? asks for help and ~~ sends one tilde', () => {
    expect(feed(new EscapeFilter(), '~?')).toEqual({ text: '', actions: ['help'] })
    expect(feed(new EscapeFilter(), '~~x')).toEqual({ text: '~x', actions: [] })
    expect(feed(new EscapeFilter(), '~x')).toEqual({ text: '~x', actions: [] })
  })

  it('property: input without ~ passes through unchanged, in any chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array().map((a) => a.filter((b) => b !== 0x7e))), (chunks) => {
        const filter = new EscapeFilter()
        const out = chunks.map((chunk) => filter.feed(chunk))
        expect(Buffer.concat(out.map((o) => o.forward))).toEqual(Buffer.concat(chunks))
        expect(out.flatMap((o) => o.actions)).toEqual([])
      }),
    )
  })
})
