import { Text } from 'ink'
import { describeVerified, VOUCHED_BY_GATEWAY, type VerifiedTechnician } from '../core/trust/index.js'

export interface TrustLineProps {
  /** The technician as the organisation's key says by signature (`rescue host --trust`). */
  verified?: VerifiedTechnician
  /** The technician as the gateway says. */
  email?: string
  /** `--trust-gateway`: what is pre-approved rests on the gateway's word alone. */
  trustGateway?: boolean
}

/** Whose word stands behind the technician's identity: a signature checked here, or only the gateway's. */
export function TrustLine({ verified, email, trustGateway }: TrustLineProps) {
  if (verified) return <Text color="green">✓ {describeVerified(verified, { short: true })}</Text>
  if (email === undefined) return null
  if (trustGateway) {
    return (
      <Text color="yellow" bold>
        ! {email} {VOUCHED_BY_GATEWAY}, and --trust-gateway pre-approves what they ask
      </Text>
    )
  }
  return (
    <Text dimColor>
      {email} {VOUCHED_BY_GATEWAY}
    </Text>
  )
}
