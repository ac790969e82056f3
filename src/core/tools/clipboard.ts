/**
 * `rescue clipboard push|pull`: text on the end user's clipboard, both ways. Text only (UTF-8, no
 * NUL) and at most MAX_CLIPBOARD_TEXT characters, so a push is shown whole in the prompt. The host
 * uses its system clipboard (wl-copy/wl-paste, xclip, pbcopy/pbpaste, clip/PowerShell) or, to push
 * where there is none, OSC 52 on the end user's terminal. Imports core only.
 */
import { spawn } from 'node:child_process'
import type ssh2 from 'ssh2'
import { z } from 'zod'
import { UserError } from '../errors.js'
import { CLIPBOARD_SUBSYSTEM } from '../ssh/subsystems.js'
import { sanitizeForTerminal } from '../text/sanitize.js'

/** As MAX_DETAIL_LENGTH: the end user reads all of what they put on their clipboard. */
export const MAX_CLIPBOARD_TEXT = 2000
/** The request line: the text, JSON-escaped, and a little more. */
export const MAX_CLIPBOARD_LINE = MAX_CLIPBOARD_TEXT * 6 + 100

export const clipboardRequest = z.discriminatedUnion('op', [
  z.object({ op: z.literal('push'), text: z.string() }),
  z.object({ op: z.literal('pull') }),
])
export type ClipboardRequest = z.infer<typeof clipboardRequest>

/** The text when it may go on a clipboard; a UserError saying why not otherwise. */
export function checkClipboardText(text: string): string {
  const length = [...text].length
  if (length > MAX_CLIPBOARD_TEXT) {
    throw new UserError('usage', `the text is ${length} characters long: at most ${MAX_CLIPBOARD_TEXT}`)
  }
  if (text.includes('\u0000') || text.includes('\ufffd')) {
    throw new UserError(
      'usage',
      'only text can go on the clipboard (this holds NUL or bytes that are not UTF-8)',
    )
  }
  return text
}

function commandFor(kind: 'copy' | 'paste'): [string, string[]] | undefined {
  const override = process.env[kind === 'copy' ? 'RESCUE_CLIPBOARD_COPY' : 'RESCUE_CLIPBOARD_PASTE']
  if (override !== undefined) return [override, []]
  if (process.platform === 'darwin') return [kind === 'copy' ? 'pbcopy' : 'pbpaste', []]
  if (process.platform === 'win32') {
    return kind === 'copy' ? ['clip', []] : ['powershell', ['-NoProfile', '-Command', 'Get-Clipboard']]
  }
  if (process.env.WAYLAND_DISPLAY) return kind === 'copy' ? ['wl-copy', []] : ['wl-paste', ['--no-newline']]
  if (process.env.DISPLAY) return ['xclip', ['-selection', 'clipboard', ...(kind === 'paste' ? ['-o'] : [])]]
  return undefined
}

function run(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'ignore'] })
    let output = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      if (output.length <= MAX_CLIPBOARD_TEXT * 4) output += chunk
    })
    child.once('error', (error) => reject(new Error(`${command}: ${error.message}`)))
    child.once('close', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${command} exited with ${code}`)),
    )
    child.stdin.on('error', () => {})
    child.stdin.end(input ?? '')
  })
}

/** Puts text on the host's clipboard: the system's, or OSC 52 on `terminal` where there is none. */
export async function copyOnHost(text: string, terminal?: NodeJS.WriteStream): Promise<string> {
  const command = commandFor('copy')
  if (command) {
    await run(command[0], command[1], text)
    return command[0]
  }
  if (!terminal?.isTTY) throw new Error('this computer has no clipboard rescue can reach')
  terminal.write(`\u001b]52;c;${Buffer.from(text, 'utf8').toString('base64')}\u0007`)
  return 'OSC 52'
}

/** Reads the host's system clipboard; terminals are not asked (OSC 52 reads are rarely allowed). */
export async function pasteOnHost(): Promise<string> {
  const command = commandFor('paste')
  if (!command) throw new Error('this computer has no clipboard rescue can read')
  return checkClipboardText(await run(command[0], command[1]))
}

/** The technician's side: checks, asks the host, and resolves with the text pulled (or '' after a push). */
export function requestClipboard(client: ssh2.Client, request: ClipboardRequest): Promise<string> {
  if (request.op === 'push') checkClipboardText(request.text)
  return new Promise((resolve, reject) => {
    client.subsys(CLIPBOARD_SUBSYSTEM, (error, channel) => {
      if (error)
        return reject(
          new UserError('failure', `the end user's computer has no clipboard service: ${error.message}`),
        )
      let answer = ''
      channel.on('data', (chunk: Buffer) => {
        if (answer.length <= MAX_CLIPBOARD_LINE) answer += chunk.toString('utf8')
      })
      channel.stderr.resume()
      channel.on('close', () => {
        let reply: { ok?: boolean; text?: unknown; error?: string; code?: string } = {}
        try {
          reply = JSON.parse(answer.trim() || '{}') as typeof reply
        } catch {
          // No answer: the session ended.
        }
        if (typeof reply.text === 'string') return resolve(reply.text)
        if (reply.ok === true) return resolve('')
        const codes = ['forbidden', 'usage', 'failure', 'denied'] as const
        const code = codes.find((known) => known === reply.code) ?? 'denied'
        reject(new UserError(code, sanitizeForTerminal(reply.error ?? 'the end user did not allow it', 300)))
      })
      channel.end(`${JSON.stringify(request)}\n`)
    })
  })
}
