/**
 * Whether a session tries the direct link (transport/direct-link.ts), and what the sealed hellos
 * say about it. The technician's hello says whether it asks for a direct link or only allows one;
 * the host decides, since it is the one that listens, and its hello carries the offer: the
 * addresses it can be reached at, sealed under the pairing like the rest of the hello, so the
 * gateway neither reads them nor forges them. Imports only the transport.
 */
import { z } from 'zod'
import { MAX_CANDIDATES, type DirectCandidate } from '../transport/direct-link.js'

/**
 * `ask`: try a direct link (`--direct`); `allow`: go along when the other side asks (the default);
 * `refuse`: relay only (`--no-direct`, or the gateway's `--no-direct`).
 */
export type DirectMode = 'ask' | 'allow' | 'refuse'

/** What the technician's hello says (absent in a hello from a rescue without direct links). */
export const technicianDirect = z.enum(['ask', 'allow'])

/** The host's offer in its hello. */
export const directOffer = z.object({
  candidates: z
    .array(
      z.object({
        address: z.union([z.ipv4(), z.ipv6()]),
        port: z.number().int().min(1).max(65535),
      }),
    )
    .min(1)
    .max(MAX_CANDIDATES),
})

/** The host's decision: listen and offer only when one side asked and neither side nor the gateway refused. */
export function hostOffers(host: DirectMode, technician: unknown, gatewayAllows: boolean): boolean {
  const peer = technicianDirect.safeParse(technician)
  if (!gatewayAllows || host === 'refuse' || !peer.success) return false
  return host === 'ask' || peer.data === 'ask'
}

/** The offer a technician may dial, or undefined when there is none it may use. */
export function offerToDial(
  own: DirectMode,
  gatewayAllows: boolean,
  offer: unknown,
): readonly DirectCandidate[] | undefined {
  if (own === 'refuse' || !gatewayAllows || offer === undefined) return undefined
  const parsed = directOffer.safeParse(offer)
  return parsed.success ? parsed.data.candidates : undefined
}
