/**
 * Recordings of shells and commands (issue 11): what the `rescue recordings` commands and `rescue
 * admin recordings key init` do. The formats live in cast.ts (asciicast v2), checkpoint.ts (the
 * host's signed checkpoints), seal.ts (sealing to the organisation's key); the two sides in
 * host.ts and technician.ts; the gateway's part in gateway/recordings.ts. Imports core only.
 */
import fs from 'node:fs'
import path from 'node:path'
import { api } from '../client/index.js'
import { UserError } from '../errors.js'
import { MAX_RECORDING_BYTES, parseCast } from './cast.js'
import {
  generateRecordingKey,
  openRecording,
  readKeyFile,
  recordingKeyFingerprint,
  writeKeyFile,
} from './seal.js'
import { verifyRecording, type VerifyResult } from './verify.js'

export { verifyRecording, type VerifyResult } from './verify.js'

/** Makes the organisation's recording key: the private half to `out` (0600), the public half to the gateway. */
export async function initRecordingKey(options: {
  server: string
  token: string
  out: string
}): Promise<{ file: string; fingerprint: string }> {
  const pair = generateRecordingKey()
  // Written first: a key the gateway seals to and nobody holds would make recordings nobody can read.
  writeKeyFile(options.out, pair)
  try {
    await api.admin.setRecordingKey(options.server, options.token, pair.publicKey)
  } catch (error) {
    fs.rmSync(options.out, { force: true })
    throw error
  }
  return { file: path.resolve(options.out), fingerprint: recordingKeyFingerprint(pair.publicKey) }
}

/** Downloads a recording, opens it with the private key and writes it to `out` whole, or not at all. */
export async function getRecording(options: {
  server: string
  token: string
  id: string
  keyFile: string
  out: string
}): Promise<{ id: string; file: string; sessionId: string; bytes: number; complete: boolean }> {
  const key = readKeyFile(options.keyFile)
  const recording = await api.recordings.get(options.server, options.token, options.id.trim().toLowerCase())
  const plain = openRecording(
    Buffer.from(recording.data, 'base64'),
    key,
    `${recording.id}\n${recording.sessionId}`,
  )
  writeWhole(options.out, plain)
  return {
    id: recording.id,
    file: path.resolve(options.out),
    sessionId: recording.sessionId,
    bytes: plain.length,
    complete: recording.complete,
  }
}

/** Writes through a temporary file and a rename: a failure leaves nothing half-written. */
function writeWhole(file: string, data: Buffer): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.part`)
  try {
    fs.writeFileSync(temporary, data, { mode: 0o600, flag: 'wx' })
    fs.renameSync(temporary, file)
  } catch (error) {
    fs.rmSync(temporary, { force: true })
    throw new UserError('failure', `cannot write ${file}: ${(error as Error).message}`)
  }
}

function readRecording(file: string): string {
  let stat: fs.Stats
  try {
    stat = fs.statSync(file)
  } catch {
    throw new UserError('usage', `there is no file ${file}`)
  }
  if (!stat.isFile()) throw new UserError('usage', `${file} is not a file`)
  if (stat.size > MAX_RECORDING_BYTES) throw new UserError('usage', `${file} is larger than any recording`)
  return fs.readFileSync(file, 'utf8')
}

/** Checks a recording file against the host's checkpoints; a UserError when it does not match. */
export function verifyRecordingFile(file: string): VerifyResult {
  const result = verifyRecording(readRecording(file))
  if (!result.valid) {
    throw new UserError(
      'failure',
      `${file} is not what the host sent: ${result.problems.join('; ')}`,
      'a recording that fails was changed, cut or added to after the host signed it',
    )
  }
  return result
}

/**
 * Plays a recording's output in the terminal with its timing: `speed` times faster, pauses
 * shortened to `idleLimit` seconds. Resolves when it ends or `signal` aborts.
 */
export async function playRecording(
  file: string,
  options: { speed: number; idleLimit?: number; write(text: string): void; signal?: AbortSignal },
): Promise<{ events: number; seconds: number }> {
  const { events } = parseCast(readRecording(file))
  let last = 0
  let played = 0
  let count = 0
  for (const [time, code, data] of events) {
    if (code !== 'o' && code !== 'e') continue
    let pause = Math.max(0, time - last)
    last = time
    if (options.idleLimit !== undefined) pause = Math.min(pause, options.idleLimit)
    pause /= options.speed
    played += pause
    if (pause > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pause * 1000)
        options.signal?.addEventListener('abort', () => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    if (options.signal?.aborted) break
    options.write(data)
    count++
  }
  return { events: count, seconds: Math.round(played * 1000) / 1000 }
}
