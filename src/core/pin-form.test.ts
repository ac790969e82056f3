import { describe, expect, it } from 'vitest'
import { checkPinForm } from './pin-form.js'

describe('checkPinForm', () => {
  it('takes 6 digits, with the blanks or dash people type', () => {
    expect(checkPinForm(' 123456\n')).toBe('123456')
    expect(checkPinForm('123 456')).toBe('123456')
    expect(checkPinForm('123-456')).toBe('123456')
  })

  it('refuses anything else as a usage error, saying what a PIN is', () => {
    for (const text of ['abc', '12345', '1234567', '12345a', '', '١٢٣٤٥٦']) {
      expect(() => checkPinForm(text), text).toThrow(
        expect.objectContaining({ code: 'usage', message: 'a PIN is 6 digits' }),
      )
    }
  })
})
