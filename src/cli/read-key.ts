/** Reads one key press from the terminal in raw mode, among `keys`; resolves undefined after `timeoutMs`. */
export function readKey(keys: readonly string[], timeoutMs: number): Promise<string | undefined> {
  const { stdin } = process
  return new Promise((resolve) => {
    const finish = (key: string | undefined) => {
      clearTimeout(timer)
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      resolve(key)
    }
    const onData = (data: Buffer) => {
      const key = data.toString('utf8').toLowerCase()
      if (key === '\u0003') return finish(undefined) // Ctrl-C: no answer is a denial
      if (keys.includes(key)) finish(key)
    }
    const timer = setTimeout(() => finish(undefined), timeoutMs)
    stdin.setRawMode(true)
    stdin.on('data', onData)
    stdin.resume()
  })
}
