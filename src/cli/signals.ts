import type { ErrorCode } from '../core/errors.js'

/** Resolves on the first Ctrl-C (SIGINT) or SIGTERM, so a command can end cleanly. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = onSignal((signal) => {
      stop()
      resolve(signal)
    })
  })
}

/** Calls `handler` on Ctrl-C or SIGTERM until the returned function is called. */
export function onSignal(handler: (signal: NodeJS.Signals) => void): () => void {
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
}

/** The exit code a deliberate stop by `signal` deserves: 130 for Ctrl-C, 143 for SIGTERM, as shells report them. */
export function signalCode(signal: NodeJS.Signals): Extract<ErrorCode, 'interrupted' | 'terminated'> {
  return signal === 'SIGINT' ? 'interrupted' : 'terminated'
}

/** How a session ended by `signal` on this side is told: once, with its exit code. */
export function signalEnding(signal: NodeJS.Signals): { reason: string; code: ErrorCode } {
  const how = signal === 'SIGINT' ? 'Ctrl-C' : signal
  return { reason: `you ended the session (${how})`, code: signalCode(signal) }
}
