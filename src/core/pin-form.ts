/**
 * The form of a PIN, checked where it is typed, before the gateway is asked: a typo is not a wrong
 * PIN, and does not count against the address's wrong-PIN limit. Shared by `rescue host` and
 * `rescue connect`, whatever the PIN came from (flag, prompt, environment, stdin).
 */
import { UserError } from './errors.js'
import { isPinForm } from './ids.js'

/** The PIN without surrounding blanks (and the blanks people type inside it), or a usage error. */
export function checkPinForm(text: string, role: 'host' | 'technician' = 'host'): string {
  const pin = text.replace(/[\s-]/g, '')
  if (isPinForm(pin)) return pin
  throw new UserError(
    'usage',
    'a PIN is 6 digits',
    role === 'host'
      ? 'type the 6 digits your technician gave you'
      : 'use the 6 digits rescue pin printed, or a SESSION id from rescue queue',
  )
}
