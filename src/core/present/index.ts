/**
 * `rescue present`: the technician shows their own terminal to the end user, read only, on the
 * end user's `rescue host` screen. This module owns the two ends of `present@rescue` that are not
 * the host's SSH server: what a host screen must offer to show a presentation (`PresentStage`),
 * and the technician's request for one (`requestPresent`). Frames are share/frames.ts's: output
 * from the technician, window sizes from the end user. Imports core only.
 */
import type ssh2 from 'ssh2'
import type { ClientChannel } from 'ssh2'
import { ExitCode, UserError, type ErrorCode } from '../errors.js'
import { ViewFrameDecoder, type Window } from '../share/index.js'
import { PRESENT_SUBSYSTEM, STOPPED_WATCHING } from '../ssh/subsystems.js'
import { sanitizeForTerminal } from '../text/sanitize.js'

export { PRESENT_SUBSYSTEM, STOPPED_WATCHING }

/** The end user's screen, as the host's SSH server needs it to show a technician's terminal. */
export interface PresentStage {
  /** True while a presentation is on the screen: a second one is refused unasked. */
  readonly busy: boolean
  /**
   * Takes the screen over to show `technician`'s terminal; undefined when it cannot (one is
   * already shown). `onStop` is called once when the end user stops watching (one key).
   */
  show(options: {
    technician: string
    onStop(): void
    onResize(window: Window): void
  }): PresentScreen | undefined
}

/** A presentation on the end user's screen. */
export interface PresentScreen {
  /** The window the technician's terminal is shown in (the screen less its heading). */
  readonly window: Window
  /** The technician's terminal output, as it comes. */
  write(data: Buffer): void
  /** Gives the screen back to the host's own view. */
  close(): void
}

export interface Presentation {
  channel: ClientChannel
  /** The end user's window for the presentation; later sizes come through `onSize`. */
  window: Window
  /** Later window sizes from the end user (a resize). */
  onSize(listener: (window: Window) => void): void
  /** Settles with why it ended: the end user stopped watching, or it closed (the session ended, a revoke). */
  closed: Promise<'stopped-watching' | 'closed'>
}

/**
 * Asks the end user, through a live session's control socket, to watch this terminal. Resolves
 * once they allowed it (the host's first window size arrives); rejects with the reason otherwise.
 */
export function requestPresent(client: ssh2.Client): Promise<Presentation> {
  return new Promise((resolve, reject) => {
    client.subsys(PRESENT_SUBSYSTEM, (error, channel) => {
      if (error) {
        return reject(
          new UserError('failure', `the end user's side cannot be shown a terminal: ${error.message}`),
        )
      }
      const decoder = new ViewFrameDecoder(['size'])
      const listeners: ((window: Window) => void)[] = []
      let allowed: Window | undefined
      let refusal = ''
      let status: number | undefined
      let stopped = false
      let resolveClosed!: (why: 'stopped-watching' | 'closed') => void
      const closed = new Promise<'stopped-watching' | 'closed'>((done) => (resolveClosed = done))
      channel.stderr.on(
        'data',
        (chunk: Buffer) => (refusal = (refusal + chunk.toString('utf8')).slice(0, 1000)),
      )
      channel.on('exit', (code: number | null, _signal?: string, _dumped?: boolean, message?: string) => {
        if (typeof code === 'number') status = code
        if (message === STOPPED_WATCHING) stopped = true
      })
      channel.on('data', (chunk: Buffer) => {
        let frames
        try {
          frames = decoder.feed(chunk)
        } catch {
          return channel.close()
        }
        for (const frame of frames) {
          if (frame.type !== 'size') continue
          const window = { cols: frame.cols, rows: frame.rows }
          if (!allowed) {
            allowed = window
            resolve({ channel, window, onSize: (listener) => listeners.push(listener), closed })
          } else listeners.forEach((listener) => listener(window))
        }
      })
      channel.on('close', () => {
        resolveClosed(stopped ? 'stopped-watching' : 'closed')
        if (allowed) return
        // Refused before anything was shown: the bridge says why on stderr ("rescue: …") and in the status.
        const why = sanitizeForTerminal(refusal.replace(/^rescue: /, '').trim(), 300)
        const code =
          (Object.entries(ExitCode).find(([, value]) => value === status)?.[0] as ErrorCode | undefined) ??
          'denied'
        reject(new UserError(code, why || 'the end user did not let you show your terminal'))
      })
    })
  })
}
