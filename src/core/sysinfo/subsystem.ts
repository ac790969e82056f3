/**
 * The `sysinfo@rescue` SSH subsystem: the host answers with one JSON document on stdout and exit
 * status 0; the technician reads it (bounded) and decodes it as hostile input. Consent is the
 * host server's job: it accepts the subsystem request only after the end user agreed, so a
 * refused request is the end user saying no.
 */
import type ssh2 from 'ssh2'
import type { ClientChannel, ServerChannel } from 'ssh2'
import { refusalFromStatus } from '../consent/refusal.js'
import { UserError } from '../errors.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { collectSystemInfo, decodeSystemInfo, SYSINFO_SUBSYSTEM, type SystemInfo } from './index.js'

/** The most the technician reads from the host; a real report is a few KiB. */
export const MAX_SYSINFO_BYTES = 8 * 1024 * 1024

const REQUEST_TIMEOUT_MS = 30_000

/** Host side: collects this machine's information and writes it as JSON on the accepted channel. */
export async function serveSysinfo(channel: ServerChannel): Promise<void> {
  let status = 0
  try {
    const info = await collectSystemInfo()
    channel.write(JSON.stringify(info))
  } catch {
    status = 1
  }
  channel.exit(status)
  channel.end()
}

export interface RequestSysinfoOptions {
  /** How long to wait for the whole answer, consent prompt included. */
  timeoutMs?: number
  /** Why the host refused, when the session's refusals channel can tell (technician/refusals.ts). */
  explain?: (permission: 'sysinfo') => Promise<UserError>
}

/** Technician side: asks the host for its system information over `client`. */
export function requestSysinfo(
  client: ssh2.Client,
  options: RequestSysinfoOptions = {},
): Promise<SystemInfo> {
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS
  return new Promise<SystemInfo>((resolve, reject) => {
    let channel: ClientChannel | undefined
    let settled = false
    const finish = (error: Error | undefined, info?: SystemInfo): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (error) {
        channel?.destroy()
        reject(error)
      } else if (info) resolve(info)
    }
    const timer = setTimeout(
      () => finish(new UserError('failure', `the host sent no system information in ${timeoutMs / 1000} s`)),
      timeoutMs,
    )
    client.subsys(SYSINFO_SUBSYSTEM, (error, opened) => {
      if (error) {
        if (options.explain) void options.explain('sysinfo').then((why) => finish(why))
        else finish(new UserError('denied', 'denied by the end user'))
        return
      }
      channel = opened
      if (settled) {
        opened.destroy()
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      let exitCode: number | undefined
      opened.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_SYSINFO_BYTES) {
          finish(
            new UserError(
              'failure',
              `the host sent more than ${MAX_SYSINFO_BYTES / 1024 / 1024} MiB of system information`,
            ),
          )
          return
        }
        chunks.push(chunk)
      })
      // Stderr is not part of the protocol but for a refusal's reason: keep its start, drop the rest.
      let stderr = ''
      opened.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < 1000) stderr += chunk.toString('utf8').slice(0, 1000)
      })
      opened.on('exit', (code: number | null) => {
        exitCode = code ?? undefined
      })
      opened.on('close', () => {
        if (settled) return
        // Through a control socket or --listen, a refusal arrives as the bridge's exit status and reason.
        const refused = refusalFromStatus(exitCode, sanitizeForTerminal(stderr.trim(), 500))
        if (refused) {
          finish(refused)
          return
        }
        if (exitCode !== undefined && exitCode !== 0) {
          finish(new UserError('failure', 'the host could not collect its system information'))
          return
        }
        try {
          finish(undefined, decodeSystemInfo(Buffer.concat(chunks)))
        } catch (decodeError) {
          finish(decodeError as UserError)
        }
      })
    })
  })
}
