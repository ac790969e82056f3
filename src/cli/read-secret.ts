/** Reads a password or a PIN without it ever touching argv: from stdin, or a prompt on the terminal. */
import readline from 'node:readline'
import { UserError } from '../core/errors.js'
import { isPinForm } from '../core/ids.js'

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Asks on the terminal and reads one line in raw mode, echoing nothing; Ctrl-C cancels. */
export function promptHidden(question: string): Promise<string> {
  return promptRaw(question, false)
}

function promptRaw(question: string, echo: boolean): Promise<string> {
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
        if (char === '\u007f' || char === '\b') {
          if (echo && answer !== '') stderr.write('\b \b')
          answer = answer.slice(0, -1)
        } else {
          answer += char
          // Only printable ASCII goes back to the screen: a pasted escape sequence must not act.
          if (echo && char >= ' ' && char < '\u007f') stderr.write(char)
        }
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

const PIN_ATTEMPTS = 3

/**
 * The PIN for `rescue host` when it is not given as `--pin` or RESCUE_PIN (both of which other
 * users of this computer can read: argv in `ps`, the environment in /proc for the same user):
 * the first line of stdin with `--pin-stdin`, else asked on the terminal (shown as typed: it is
 * single-use and short-lived, and a typo seen is a typo fixed). Without a terminal and without
 * `--pin-stdin`, fails at once naming what to use instead.
 */
export async function readPin(options: { fromStdin: boolean }): Promise<string> {
  const terminal = process.stdin.isTTY === true && !process.env.CI
  if (options.fromStdin && !process.stdin.isTTY) {
    const lines = new StdinLines()
    try {
      const pin = (await lines.next('PIN')).trim()
      if (!isPinForm(pin)) {
        throw new UserError(
          'usage',
          'the first line of stdin is not a PIN: a PIN is 6 digits',
          'write the 6 digits your technician gave you, as in: echo 123456 | rescue host --pin-stdin',
        )
      }
      return pin
    } finally {
      lines.close()
    }
  }
  if (!terminal && !options.fromStdin) {
    throw new UserError(
      'usage',
      'no PIN was given, and there is no terminal to ask for it',
      'pipe it in with --pin-stdin (echo 123456 | rescue host --pin-stdin), set RESCUE_PIN, or give --pin 123456 (other users of this computer can see it in ps); or wait in a shared queue with --channel LINK (the channel link your helpdesk gave you)',
    )
  }
  for (let attempt = 1; ; attempt++) {
    const pin = (await promptRaw('The PIN your technician gave you (6 digits): ', true)).trim()
    if (isPinForm(pin)) return pin
    if (attempt === PIN_ATTEMPTS) {
      throw new UserError(
        'usage',
        'a PIN is 6 digits',
        'ask your technician for the PIN again, and run rescue host again',
      )
    }
    process.stderr.write('A PIN is 6 digits, such as 123456.\n')
  }
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
