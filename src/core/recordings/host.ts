/**
 * The host's part in recordings: it serves `recording@rescue` to the technician, hashes what each
 * shell and command sends and receives, and writes a signed checkpoint per channel every second
 * (when something changed) and a final one before the channel's exit status. With the policy's
 * `required`, it refuses shells and commands while no recording runs, and when the technician's
 * recording stops (it could not write or upload, and said why) it closes them. Imports core only.
 */
import type { ServerChannel } from 'ssh2'
import type { HostActivity } from '../host/events.js'
import { LineReader } from '../transfer/protocol.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import {
  ChannelCheckpoints,
  checkpointSigner,
  type SignedCheckpoint,
  type StreamHash,
  type StreamName,
} from './checkpoint.js'

const CHECKPOINT_EVERY_MS = 1000

export interface HostRecordingsOptions {
  hostKey: string
  sessionId: string
  required: boolean
  input: boolean
  onActivity(activity: HostActivity): void
  /** The last recording channel closed while recording is required. */
  onStopped(reason: string): void
}

/** The SSH channel number the host gave this channel: what the technician's side knows as its remote id. */
export function hostChannelNumber(channel: ServerChannel): number {
  return (channel as unknown as { incoming: { id: number } }).incoming.id
}

export class HostRecordings {
  private readonly links = new Set<ServerChannel>()
  private readonly channels = new Map<ServerChannel, ChannelCheckpoints>()
  private readonly signer
  private timer?: NodeJS.Timeout
  private stopReason?: string
  private closing = false

  constructor(private readonly options: HostRecordingsOptions) {
    this.signer = checkpointSigner(options.hostKey)
  }

  /** Whether a recording runs: the technician holds a `recording@rescue` channel open. */
  get active(): boolean {
    return this.links.size > 0
  }

  /** Why a shell or command may not open now, or undefined when it may. */
  refusal(permission: 'shell' | 'exec' | 'view' | 'control'): string | undefined {
    if (!this.options.required) return undefined
    // The shared terminal is not recorded yet: where recording is required, it stays closed.
    if (permission === 'view' || permission === 'control')
      return `the shared terminal (${permission}), which cannot be recorded yet, and the technician's policy requires recording`
    if (this.active) return undefined
    const what = permission === 'shell' ? 'a shell' : 'a command'
    return `${what} without a recording, which the technician's policy requires${this.stopReason ? ` (the recording stopped: ${this.stopReason})` : ''}`
  }

  addLink(channel: ServerChannel): void {
    this.links.add(channel)
    this.stopReason = undefined
    this.options.onActivity({
      event: 'recording',
      state: 'started',
      required: this.options.required,
      input: this.options.input,
    })
    const reader = new LineReader()
    let reason: string | undefined
    channel.on('data', (chunk: Buffer) => {
      // The technician's side says why it stops, before closing: the end user is told the same.
      try {
        for (const line of reader.push(chunk)) {
          const said = JSON.parse(line) as { type?: unknown; reason?: unknown }
          if (said.type === 'stop' && typeof said.reason === 'string')
            reason = sanitizeForTerminal(said.reason, 300)
        }
      } catch {
        channel.close()
      }
    })
    channel.on('error', () => {})
    channel.on('close', () => {
      if (!this.links.delete(channel) || this.closing) return
      const why = reason ?? 'the technician closed it'
      this.options.onActivity({
        event: 'recording',
        state: 'stopped',
        required: this.options.required,
        input: this.options.input,
        reason: why,
      })
      if (this.links.size === 0 && this.options.required) {
        this.stopReason = why
        this.options.onStopped(why)
      }
    })
    this.timer ??= setInterval(() => this.tick(), CHECKPOINT_EVERY_MS)
    this.timer.unref()
  }

  /** Starts hashing a shell's or command's streams; returns the hashes to feed. */
  track(channel: ServerChannel, kind: 'shell' | 'exec'): Record<StreamName, StreamHash> {
    const checkpoints = new ChannelCheckpoints(this.signer, {
      session: this.options.sessionId,
      channel: hostChannelNumber(channel),
      kind,
    })
    this.channels.set(channel, checkpoints)
    return checkpoints.hashes
  }

  /** The channel is about to send its exit status: its final checkpoint goes first. */
  finish(channel: ServerChannel): void {
    const checkpoints = this.channels.get(channel)
    if (!checkpoints) return
    this.channels.delete(channel)
    this.send(checkpoints.make(true))
  }

  close(): void {
    this.closing = true
    clearInterval(this.timer)
    for (const link of this.links) link.close()
  }

  private tick(): void {
    if (this.links.size === 0) return
    for (const checkpoints of this.channels.values()) this.send(checkpoints.make())
  }

  private send(checkpoint: SignedCheckpoint | undefined): void {
    if (!checkpoint) return
    for (const link of this.links) if (!link.destroyed) link.write(`${JSON.stringify(checkpoint)}\n`)
  }
}
