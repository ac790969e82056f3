/**
 * The host's end of `present@rescue`, once the end user allowed `present`: shows the technician's
 * terminal on the end user's screen (the `PresentStage`), filtered (filter.ts), and tells the
 * technician the window it is shown in. The channel carries nothing from the end user's keyboard:
 * the stage reads their keys only to stop watching. Imports core only.
 */
import type { ServerChannel } from 'ssh2'
import { encodeSize, ViewFrameDecoder } from '../share/index.js'
import { REVOKED_MESSAGE, STOPPED_WATCHING } from '../ssh/subsystems.js'
import { PresentOutputFilter } from './filter.js'
import type { PresentStage } from './index.js'

export interface ServePresentOptions {
  technician: string
  /** Logs a refused request (a malformed frame, a second presentation). */
  refuse(what: string): void
  /** The end user stopped watching (one key): logged before the channel closes. */
  onStopped(): void
  /** The channel closed, for whatever reason. */
  onClose(): void
}

/** Shows the channel's terminal on `stage`; `stop` closes it (a revoke, the session's end). */
export function servePresent(
  channel: ServerChannel,
  stage: PresentStage,
  options: ServePresentOptions,
): { stop(message?: string): void } {
  let closed = false
  const close = (message: string) => {
    if (closed) return
    closed = true
    screen?.close()
    if (!channel.destroyed) {
      channel.exit('HUP', false, message)
      channel.close()
    }
  }
  channel.on('error', () => {})
  channel.on('close', () => {
    closed = true
    screen?.close()
    options.onClose()
  })
  const screen = stage.show({
    technician: options.technician,
    onStop: () => {
      if (closed) return
      options.onStopped()
      close(STOPPED_WATCHING)
    },
    onResize: (window) => {
      if (!closed && !channel.destroyed) channel.write(encodeSize(window.cols, window.rows))
    },
  })
  if (!screen) {
    options.refuse('a second presentation while one is shown')
    close('another presentation is on the screen')
    return { stop: () => {} }
  }
  // The first window size says "allowed, shown": the technician starts its shell on it.
  channel.write(encodeSize(screen.window.cols, screen.window.rows))
  const decoder = new ViewFrameDecoder(['output', 'size'])
  const filter = new PresentOutputFilter()
  channel.on('data', (chunk: Buffer) => {
    if (closed) return
    let frames
    try {
      frames = decoder.feed(chunk)
    } catch (error) {
      options.refuse(`a malformed frame on the present channel (${(error as Error).message})`)
      return close('a malformed frame')
    }
    for (const frame of frames) if (frame.type === 'output') screen.write(filter.feed(frame.data))
  })
  return { stop: (message = REVOKED_MESSAGE) => close(message) }
}
