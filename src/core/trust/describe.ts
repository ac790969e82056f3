/** How the host words who the technician is: checked by signature, or only vouched for by the gateway. */
import type { VerifiedTechnician } from './proof.js'

/**
 * "alice@acme.example — verified by your organisation's key SHA256:…"; `short` cuts the
 * fingerprint to what a person compares at a glance, so the line fits a terminal.
 */
export function describeVerified(verified: VerifiedTechnician, options: { short?: boolean } = {}): string {
  const key = options.short ? `${verified.caFingerprint.slice(0, 19)}…` : verified.caFingerprint
  return `${verified.email} — verified by your organisation's key ${key}`
}

/** Said of an identity that nothing but the gateway's word stands behind. */
export const VOUCHED_BY_GATEWAY = 'as vouched for by the gateway (no key of yours checked it)'

/** The warning `rescue host --auto-approve ... --trust-gateway` shows and logs. */
export function trustGatewayWarning(permissions: readonly string[]): string {
  return (
    `--trust-gateway: ${permissions.join(', ')} will be allowed without asking for whichever technician ` +
    'the gateway pairs with; nothing but the gateway vouches for who that is (use --trust KEY to check it)'
  )
}
