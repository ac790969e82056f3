import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Refusals } from './refusals.js'

describe("the technician's queue of refusal reasons", () => {
  it('gives each refusal to the request of its permission, oldest first', async () => {
    const refusals = new Refusals()
    refusals.receive('{"permission":"exec","by":"timeout","seconds":60}')
    refusals.receive('{"permission":"shell","by":"end-user"}')
    refusals.receive('{"permission":"exec","by":"policy"}')
    expect((await refusals.explain('shell')).message).toBe('the end user denied the shell')
    expect((await refusals.explain('exec')).code).toBe('denied')
    expect((await refusals.explain('exec')).code).toBe('forbidden')
  })

  it('waits briefly for a reason that arrives after the failure, then falls back to a plain denial', async () => {
    const refusals = new Refusals()
    const waiting = refusals.explain('sysinfo')
    setTimeout(() => refusals.receive('{"permission":"sysinfo","by":"no-terminal"}'), 20)
    expect((await waiting).message).toBe("no one is at the host's terminal to allow system information")
    const started = Date.now()
    expect(await refusals.explain('shell')).toMatchObject({
      code: 'denied',
      message: 'denied by the end user',
    })
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it('property: any line from the host is a valid refusal or dropped, never a throw', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.json()), async (line) => {
        const refusals = new Refusals()
        expect(() => refusals.receive(line)).not.toThrow()
      }),
      { numRuns: 300 },
    )
  })
})
