/**
 * `rescue recordings verify`: checks a recording against the host's signed checkpoints. Every
 * checkpoint must be signed by the host key in the header, name this session and channel, and
 * match the SHA-256 of the recorded bytes up to the length it states, per stream; the last must
 * be the host's final one and cover every byte recorded. So one changed byte, a removed event,
 * an added one or a cut end all fail. Imports core only.
 */
import { createHash } from 'node:crypto'
import { checkpointOf, parseCast } from './cast.js'
import { openCheckpoint, streams, type CheckpointPayload, type StreamName } from './checkpoint.js'

export interface VerifyResult {
  valid: boolean
  /** What fails, in plain words; empty when valid. */
  problems: string[]
  session?: string
  channel?: number
  kind?: 'shell' | 'exec'
  /** The host key's SHA-256 fingerprint, to compare with the end user's audit log. */
  hostKeyFingerprint?: string
  checkpoints: number
  /** Bytes per stream the final checkpoint covers. */
  bytes?: Record<StreamName, number>
}

/** The SSH-style SHA256:... fingerprint of an `ssh-ed25519 AAAA...` key line. */
export function keyFingerprint(publicKey: string): string {
  const blob = Buffer.from(publicKey.trim().split(/\s+/)[1] ?? '', 'base64')
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

export function verifyRecording(text: string): VerifyResult {
  let parsed: ReturnType<typeof parseCast>
  try {
    parsed = parseCast(text)
  } catch (error) {
    return { valid: false, problems: [(error as Error).message], checkpoints: 0 }
  }
  const { header, events, complete } = parsed
  const info = header.rescue
  if (!info) {
    return {
      valid: false,
      problems: ['the recording carries no host checkpoints (not made by rescue)'],
      checkpoints: 0,
    }
  }
  const problems: string[] = []
  if (!complete) problems.push('the recording is cut short (its last line is incomplete)')
  const recorded: Record<StreamName, Buffer[]> = { o: [], e: [], i: [] }
  const checkpoints: CheckpointPayload[] = []
  for (const [index, event] of events.entries()) {
    const code = event[1]
    if (code === 'o' || code === 'e' || code === 'i') recorded[code].push(Buffer.from(event[2], 'utf8'))
    else if (code === 'c') {
      const signed = checkpointOf(event)
      const payload = signed && openCheckpoint(signed, info.hostKey)
      if (!payload) {
        problems.push(`event ${index + 1}: a checkpoint that the host key did not sign`)
        continue
      }
      if (payload.s !== info.session || payload.ch !== info.channel || payload.kind !== info.kind) {
        problems.push(`event ${index + 1}: a checkpoint of another session or channel`)
        continue
      }
      checkpoints.push(payload)
    } else if (code !== 'r' && code !== 'm')
      problems.push(`event ${index + 1}: an unknown event code "${code}"`)
  }
  const all = {
    o: Buffer.concat(recorded.o),
    e: Buffer.concat(recorded.e),
    i: Buffer.concat(recorded.i),
  }
  // Input is checked only when it was recorded: otherwise the host hashed what was not kept.
  const checked = streams.filter((stream) => stream !== 'i' || info.input)
  checkpoints.forEach((checkpoint, index) => {
    if (checkpoint.seq !== index + 1) {
      problems.push(`checkpoint ${checkpoint.seq} is out of order or one before it was removed`)
    }
    for (const stream of checked) {
      const state = checkpoint[stream]
      const data = all[stream]
      if (state.n > data.length) {
        problems.push(
          `checkpoint ${checkpoint.seq}: the host sent ${state.n} bytes of ${streamName[stream]}, the recording has ${data.length}`,
        )
        continue
      }
      const hash = createHash('sha256').update(data.subarray(0, state.n)).digest('hex')
      if (hash !== state.h) {
        problems.push(
          `checkpoint ${checkpoint.seq}: the first ${state.n} bytes of ${streamName[stream]} differ from what the host sent`,
        )
      }
    }
  })
  const last = checkpoints.at(-1)
  if (!last) problems.push('the recording has no checkpoint from the host')
  else if (!last.final)
    problems.push("the recording ends before the host's final checkpoint: its end is missing")
  else {
    for (const stream of checked) {
      if (all[stream].length > last[stream].n) {
        problems.push(
          `the recording has ${all[stream].length - last[stream].n} bytes of ${streamName[stream]} the host never sent`,
        )
      }
    }
  }
  return {
    valid: problems.length === 0,
    problems: [...new Set(problems)],
    session: info.session,
    channel: info.channel,
    kind: info.kind,
    hostKeyFingerprint: keyFingerprint(info.hostKey),
    checkpoints: checkpoints.length,
    ...(last ? { bytes: { o: last.o.n, e: last.e.n, i: last.i.n } } : {}),
  }
}

const streamName: Record<StreamName, string> = { o: 'output', e: 'error output', i: 'input' }
