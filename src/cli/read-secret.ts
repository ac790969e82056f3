/** Reads a password without it ever touching argv: from stdin, or a prompt that echoes nothing. */
import readline from 'node:readline'
import { UserError } from '../core/errors.js'

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export function promptHidden(question: string): Promise<string> {
  const { stdin, stderr } = process
  return new Promise((resolve, reject) => {
    let answer = ''
    stderr.write(question)
    stdin.setRawMode(true)
    stdin.resume()
    stdin.setEncoding('utf8')
    const done = (error?: Error) => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.off('data', onData)
      stderr.write('\n')
      if (error) reject(error)
      else resolve(answer)
    }
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return done()
        if (char === '\u0003') return done(new UserError('interrupted', 'cancelled'))
        if (char === '\u007f' || char === '\b') answer = answer.slice(0, -1)
        else answer += char
      }
    }
    stdin.on('data', onData)
  })
}

/** The password from stdin (`--password-stdin`) or a hidden prompt; with neither possible, says which flag to use. */
export async function readPassword(options: { fromStdin: boolean; prompt: string }): Promise<string> {
  if (options.fromStdin) {
    // One trailing newline is the shell's (echo, heredoc), not the password's.
    const password = (await readAllStdin()).replace(/\r?\n$/, '')
    if (!password) throw new UserError('usage', '--password-stdin was given but stdin was empty')
    return password
  }
  if (!process.stdin.isTTY) {
    throw new UserError(
      'usage',
      'there is no terminal to ask for the password',
      'pipe it in with --password-stdin',
    )
  }
  return promptHidden(options.prompt)
}

/**
 * Stdin read one line at a time, on demand: `rescue login --password-stdin` takes the password from
 * the first line and, only when the gateway asks, a TOTP code and a new password from the next.
 */
export class StdinLines {
  private readonly lines: string[] = []
  private ended = false
  private waiting?: () => void
  private readonly reader: readline.Interface

  constructor(private readonly input: NodeJS.ReadableStream & { destroy?(): void } = process.stdin) {
    this.reader = readline.createInterface({ input, terminal: false, crlfDelay: Infinity })
    this.reader.on('line', (line) => {
      this.lines.push(line)
      this.waiting?.()
    })
    this.reader.on('close', () => {
      this.ended = true
      this.waiting?.()
    })
  }

  /** The next line; a usage error naming `what` when stdin ends first. */
  async next(what: string): Promise<string> {
    while (this.lines.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => (this.waiting = resolve))
    }
    this.waiting = undefined
    const line = this.lines.shift()
    if (line === undefined || line === '') {
      throw new UserError(
        'usage',
        `stdin ended before the ${what}`,
        `write the ${what} on the next line of stdin`,
      )
    }
    return line
  }

  /** Stops reading; a writer that keeps stdin open (an expect script) must not keep us running. */
  close(): void {
    this.reader.close()
    this.input.destroy?.()
  }
}
