/**
 * The technician's side of recordings: one asciicast file per shell or exec channel, made here
 * (the gateway never sees plaintext), with the host's signed checkpoints in it. When the policy
 * requires it, each recording is sealed to the organisation's key and uploaded to the gateway when
 * the channel opens, every minute, and when it closes; with `--record DIR` a copy is kept in DIR.
 * A recording that cannot be written or uploaded stops: the host is told why (it closes what the
 * policy forbids unrecorded) and the channel is closed here too. Imports core only.
 */
import fs from 'node:fs'
import path from 'node:path'
import type ssh2 from 'ssh2'
import type { ClientChannel } from 'ssh2'
import { api } from '../client/index.js'
import { UserError } from '../errors.js'
import { newId } from '../ids.js'
import { LineReader } from '../transfer/protocol.js'
import { CastWriter } from './cast.js'
import { RECORDING_SUBSYSTEM, signedCheckpoint, type SignedCheckpoint } from './checkpoint.js'
import { sealRecording } from './seal.js'

/** How often a running recording is uploaded; RESCUE_RECORDING_UPLOAD_MS changes it (tests). */
const UPLOAD_EVERY_MS = 60_000
/** How long a closed channel waits for the host's final checkpoint. */
const FINAL_WAIT_MS = 1000

export interface RecordingPlan {
  /** Sealed uploads to the gateway (the policy requires them). */
  upload?: { publicKey: string; input: boolean }
  /** `--record DIR`: a local copy. */
  dir?: string
}

export interface TechnicianRecordingsOptions {
  client: ssh2.Client
  server: string
  token: string
  sessionId: string
  /** The host's SSH public key of this session: the one that signs its checkpoints. */
  hostKey: string
  plan: RecordingPlan
  /** A recording stopped because it could not be written or uploaded (after the channel was closed). */
  onProblem(reason: string): void
}

/** Everything the technician records in one session. */
export class TechnicianRecordings {
  private link?: ClientChannel
  private linkOpening?: Promise<ClientChannel>
  private readonly byChannel = new Map<number, ChannelRecording>()
  /** Checkpoints that came before their channel's recording was set up. */
  private readonly early: SignedCheckpoint[] = []
  private readonly running = new Set<ChannelRecording>()
  private readonly uploads = new Set<Promise<unknown>>()

  constructor(private readonly options: TechnicianRecordingsOptions) {}

  /**
   * Readies a recording before a channel is asked for: the host's checkpoint channel and the
   * local file. Throws a UserError saying why it cannot: then the channel is not asked for.
   */
  async prepare(kind: 'shell' | 'exec', command?: string): Promise<ChannelRecording> {
    await this.openLink()
    const id = newId()
    const file = this.options.plan.dir
      ? path.join(this.options.plan.dir, `${this.options.sessionId}-${kind}-${id}.cast`)
      : undefined
    return new ChannelRecording(this, id, kind, command, new CastWriter(file), file)
  }

  /** Resolves once every upload has finished (at the end of the session). */
  async flush(): Promise<void> {
    await Promise.all([...this.running].map((recording) => recording.finish()))
    while (this.uploads.size > 0) await Promise.allSettled([...this.uploads])
  }

  /** Whether recordings go to the gateway. */
  get uploading(): boolean {
    return this.options.plan.upload !== undefined
  }

  get input(): boolean {
    return this.options.plan.upload?.input ?? false
  }

  /** @internal */
  attach(recording: ChannelRecording, channelNumber: number): void {
    this.byChannel.set(channelNumber, recording)
    this.running.add(recording)
    for (const checkpoint of this.early.splice(0)) this.route(checkpoint)
  }

  /** @internal */
  detach(recording: ChannelRecording): void {
    this.running.delete(recording)
  }

  /** @internal */
  async sendUpload(recording: ChannelRecording, complete: boolean): Promise<void> {
    const plan = this.options.plan.upload
    if (!plan) return
    const { sessionId, server, token } = this.options
    const plain = Buffer.from(recording.writer.text(), 'utf8')
    const sealed = sealRecording(plain, plan.publicKey, `${recording.id}\n${sessionId}`)
    const task = api.recordings.upload(server, token, recording.id, {
      sessionId,
      channel: recording.channelNumber ?? 0,
      kind: recording.kind,
      complete,
      data: sealed.toString('base64'),
    })
    this.uploads.add(task)
    try {
      await task
    } catch (error) {
      const why = error instanceof UserError ? error.message : String(error)
      throw new UserError('failure', `the gateway did not take the recording: ${why}`)
    } finally {
      this.uploads.delete(task)
    }
  }

  /** @internal Tells the host the recording stopped, and why, then closes the checkpoint channel. */
  stop(reason: string): void {
    const link = this.link
    if (!link) return
    this.link = undefined
    this.linkOpening = undefined
    link.end(`${JSON.stringify({ type: 'stop', reason })}\n`)
    setTimeout(() => link.close(), 200).unref()
    this.options.onProblem(reason)
  }

  get hostKey(): string {
    return this.options.hostKey
  }

  get sessionId(): string {
    return this.options.sessionId
  }

  private openLink(): Promise<ClientChannel> {
    if (this.link) return Promise.resolve(this.link)
    this.linkOpening ??= new Promise<ClientChannel>((resolve, reject) => {
      this.options.client.subsys(RECORDING_SUBSYSTEM, (error, channel) => {
        if (error) {
          this.linkOpening = undefined
          return reject(
            new UserError(
              'forbidden',
              "the end user's computer refused to let this session be recorded",
              "recording needs the permission record in your groups (or your organisation's required recording)",
            ),
          )
        }
        const reader = new LineReader()
        channel.on('data', (chunk: Buffer) => {
          try {
            for (const line of reader.push(chunk)) this.receive(line)
          } catch {
            channel.close()
          }
        })
        channel.stderr.resume()
        channel.on('error', () => {})
        channel.on('close', () => {
          if (this.link === channel) this.link = undefined
        })
        this.link = channel
        resolve(channel)
      })
    })
    return this.linkOpening
  }

  private receive(line: string): void {
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      return
    }
    const checkpoint = signedCheckpoint.safeParse(parsed)
    if (checkpoint.success) this.route(checkpoint.data)
  }

  private route(checkpoint: SignedCheckpoint): void {
    let channel: number | undefined
    try {
      channel = (JSON.parse(checkpoint.payload) as { ch?: number }).ch
    } catch {
      return
    }
    const recording = channel === undefined ? undefined : this.byChannel.get(channel)
    if (recording) recording.checkpoint(checkpoint)
    else if (this.early.length < 100) this.early.push(checkpoint)
  }
}

/** One shell's or command's recording. */
export class ChannelRecording {
  channelNumber?: number
  private channel?: ClientChannel
  private timer?: NodeJS.Timeout
  private finalSeen = false
  private onFinal?: () => void
  private finished?: Promise<void>
  private failed = false
  private queue: Promise<void> = Promise.resolve()

  constructor(
    private readonly owner: TechnicianRecordings,
    readonly id: string,
    readonly kind: 'shell' | 'exec',
    private readonly command: string | undefined,
    readonly writer: CastWriter,
    /** The local copy, when kept. */
    readonly file?: string,
  ) {}

  /** Starts recording an open channel: its output, sizes, and (when the policy says so) input. */
  attach(channel: ClientChannel, size: { cols: number; rows: number } | undefined): void {
    this.channel = channel
    const remote = (channel as unknown as { outgoing: { id: number } }).outgoing.id
    this.channelNumber = remote
    this.guard(() =>
      this.writer.begin(
        {
          session: this.owner.sessionId,
          channel: remote,
          kind: this.kind,
          ...(this.command !== undefined ? { command: this.command } : {}),
          hostKey: this.owner.hostKey,
          input: this.owner.input,
        },
        size ?? { cols: 80, rows: 24 },
      ),
    )
    this.owner.attach(this, remote)
    channel.on('data', (chunk: Buffer) => this.guard(() => this.writer.output('o', chunk)))
    channel.stderr.on('data', (chunk: Buffer) => this.guard(() => this.writer.output('e', chunk)))
    const setWindow = channel.setWindow.bind(channel)
    channel.setWindow = (rows, cols, height, width) => {
      this.guard(() => this.writer.resize(cols, rows))
      return setWindow(rows, cols, height, width)
    }
    if (this.owner.input) {
      const write = channel.write.bind(channel) as (chunk: unknown, ...rest: unknown[]) => boolean
      channel.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (Buffer.isBuffer(chunk) || typeof chunk === 'string') {
          this.guard(() => this.writer.output('i', Buffer.from(chunk)))
        }
        return write(chunk, ...rest)
      }) as typeof channel.write
    }
    channel.on('close', () => void this.finish())
    const upload = () => {
      this.upload(false).catch((error: unknown) => this.fail((error as Error).message))
    }
    // At once (the gateway must take it before anything is typed), then every minute.
    upload()
    const every = Number(process.env.RESCUE_RECORDING_UPLOAD_MS) || UPLOAD_EVERY_MS
    this.timer = setInterval(upload, every)
    this.timer.unref()
  }

  checkpoint(checkpoint: SignedCheckpoint): void {
    this.guard(() => this.writer.checkpoint(checkpoint))
    try {
      if ((JSON.parse(checkpoint.payload) as { final?: boolean }).final) {
        this.finalSeen = true
        this.onFinal?.()
      }
    } catch {
      // Not ours to judge here: verify says what is wrong with it.
    }
  }

  /** Uploads the recording so far; one at a time, in order, so the complete one is the last. */
  upload(complete: boolean): Promise<void> {
    const next = this.queue.then(() => this.owner.sendUpload(this, complete))
    this.queue = next.catch(() => {})
    return next
  }

  /** The channel was refused: the empty file goes, nothing was recorded. */
  abandon(): void {
    this.failed = true
    this.writer.close()
    if (this.file) fs.rmSync(this.file, { force: true })
  }

  /** The channel closed (or the session ended): waits for the host's last checkpoint, then the last upload. */
  finish(): Promise<void> {
    this.finished ??= (async () => {
      clearInterval(this.timer)
      if (!this.finalSeen && !this.failed) {
        await new Promise<void>((resolve) => {
          this.onFinal = resolve
          setTimeout(resolve, FINAL_WAIT_MS).unref()
        })
      }
      this.guard(() => this.writer.finishStreams())
      this.writer.close()
      this.owner.detach(this)
      if (this.failed) return
      try {
        await this.upload(true)
      } catch (error) {
        this.owner.stop((error as Error).message)
      }
    })()
    return this.finished
  }

  /** Runs a write; a failure stops the recording and closes the channel. */
  private guard(write: () => void): void {
    if (this.failed || this.writer.closed) return
    try {
      write()
    } catch (error) {
      this.fail(error instanceof Error ? error.message : String(error))
    }
  }

  private fail(reason: string): void {
    if (this.failed) return
    this.failed = true
    clearInterval(this.timer)
    this.writer.close()
    this.owner.stop(reason)
    // The host closes it (its policy requires the recording); if it does not, it closes here.
    const channel = this.channel
    if (channel) setTimeout(() => channel.close(), 1000).unref()
  }
}
