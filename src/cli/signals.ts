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
