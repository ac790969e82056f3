import { Text, Box } from 'ink'
import type { ReactNode } from 'react'
import type { TechnicianIdentity } from '../core/accounts/index.js'

export interface HostIdentityProps {
  technician?: TechnicianIdentity
  sas: string
  /** The line under the words: how to use them, or that they were confirmed; none while asked. */
  hint?: string
  /** Under who is connecting: whether a key of the end user's checked it (TrustLine). */
  verification?: ReactNode
}

/**
 * Who is connecting, as the gateway vouched for them, and this pairing's security words: always
 * the first thing on the end user's screen once paired, above any question or prompt.
 */
export function HostIdentity({ technician, sas, hint, verification }: HostIdentityProps) {
  return (
    <Box flexDirection="column">
      {technician && (
        <Text>
          technician <Text bold>{technician.name}</Text> &lt;{technician.email}&gt; of{' '}
          {technician.organisation}
        </Text>
      )}
      {verification}
      <Text>
        security words: <Text bold>{sas}</Text>
      </Text>
      {hint && <Text dimColor>{hint}</Text>}
    </Box>
  )
}
