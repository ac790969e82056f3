/** Names the one check that failed, so callers and tests can tell a forgery from a replay. */
export type PairingErrorCode =
  | 'MALFORMED'
  | 'UNEXPECTED'
  | 'COMMITMENT_MISMATCH'
  | 'BAD_KEY'
  | 'TAMPERED'
  | 'REPLAYED'
  | 'OUT_OF_ORDER'
  | 'OVERSIZE'

const defaultMessages: Record<PairingErrorCode, string> = {
  MALFORMED: 'malformed pairing frame',
  UNEXPECTED: 'pairing step out of order',
  COMMITMENT_MISMATCH: "the technician's key does not match its commitment",
  BAD_KEY: 'the peer sent an unusable key',
  TAMPERED: 'sealed frame failed authentication',
  REPLAYED: 'sealed frame was already received',
  OUT_OF_ORDER: 'sealed frame arrived out of order',
  OVERSIZE: 'sealed message is too large',
}

/** The only error the pairing module throws for bad input, misuse, or a failed check. */
export class PairingError extends Error {
  override readonly name = 'PairingError'

  constructor(
    readonly code: PairingErrorCode,
    message: string = defaultMessages[code],
  ) {
    super(message)
  }
}
