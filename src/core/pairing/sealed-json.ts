import type { SealedChannel } from './sealed-channel.js'
import { PairingError } from './pairing-error.js'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Seals a JSON-serialisable value as UTF-8 JSON; MALFORMED if it has no JSON form. */
export function sealJson(channel: SealedChannel, value: unknown): Uint8Array {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (error) {
    throw new PairingError(
      'MALFORMED',
      `value cannot be sent as JSON: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
  // JSON.stringify returns undefined for undefined, functions and symbols: nothing to send.
  if (text === undefined) throw new PairingError('MALFORMED', 'value cannot be sent as JSON')
  return channel.seal(new TextEncoder().encode(text))
}

/** Opens a sealed frame holding UTF-8 JSON; the result is untrusted and must be validated by the caller. */
export function openJson(channel: SealedChannel, frame: Uint8Array): unknown {
  const plaintext = channel.open(frame)
  let text: string
  try {
    text = utf8.decode(plaintext)
  } catch {
    throw new PairingError('MALFORMED', 'sealed message is not valid UTF-8')
  }
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new PairingError('MALFORMED', 'sealed message is not valid JSON')
  }
}
