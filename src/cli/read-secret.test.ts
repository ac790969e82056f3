import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { UserError } from '../core/errors.js'
import { StdinLines } from './read-secret.js'

describe('stdin read line by line', () => {
  it('gives each line when asked, even lines that arrive later, and names what is missing at the end', async () => {
    const input = new PassThrough()
    const lines = new StdinLines(input)
    input.write('correct horse battery\r\n123')
    expect(await lines.next('password')).toBe('correct horse battery')
    const code = lines.next('TOTP code')
    input.write('456\n')
    expect(await code).toBe('123456')
    input.end()
    const error = await lines.next('new password').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(UserError)
    expect((error as UserError).message).toBe('stdin ended before the new password')
  })

  it('refuses an empty line, and lets go of stdin when closed', async () => {
    const input = new PassThrough()
    const lines = new StdinLines(input)
    input.write('\n')
    await expect(lines.next('password')).rejects.toMatchObject({ code: 'usage' })
    lines.close()
    expect(input.destroyed).toBe(true)
  })
})
