/**
 * Relay benchmark (STYLE.md rule 19): pushes N MiB through the real built gateway (`rescue server`,
 * a separate process) between two raw paired WebSockets, and through socat as a plain TCP relay in
 * the same run, measuring throughput and the relay process's RSS. Prints one JSON object on stdout;
 * progress goes to stderr.
 *
 *   npm run build              # once: the gateway under test is dist/, not src/
 *   npx tsx bench/relay.ts [--mib 256]
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import WebSocket from 'ws'
import { ADMIN, repoRoot, runCli, startCliGateway } from './cli.js'
import { sampleRss, type RssReport } from './proc.js'
import { MAX_FRAME_BYTES, PIN_HEADER, WS_PATH } from '../src/core/protocol/control-messages.js'
import {
  benchLog,
  commandVersion,
  freePort,
  makeTempDir,
  onCleanup,
  postJson,
  runBench,
  stopChild,
  track,
  UsageError,
  sleep,
  withTimeout,
} from './lib.js'
import { HIGH_WATER_BYTES, LOW_WATER_BYTES } from '../src/core/gateway/relay.js'

const MiB = 1024 * 1024
const FRAME_BYTES = 64 * 1024
/** The sender keeps at most this much in its own buffer, like a well-behaved peer. */
const SENDER_BUFFER_LIMIT = 256 * 1024
const RSS_SAMPLE_MS = 20
/** The slow reader stops reading for STALL_MS out of every STALL_PERIOD_MS. */
const STALL_MS = 20
const STALL_PERIOD_MS = 40

const log = benchLog('bench:relay')
const round = (value: number, digits = 1) => Number(value.toFixed(digits))

/** Resolves when `predicate` holds, polling every `everyMs`; fails after `timeoutMs`. */
async function waitUntil(predicate: () => boolean, timeoutMs: number, what: string, everyMs = 5) {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

// ---------------------------------------------------------------------------------------------
// Sending and receiving

/**
 * Sends `totalBytes` in FRAME_BYTES chunks through `send`, waiting while `buffered()` exceeds
 * SENDER_BUFFER_LIMIT. `send` must call its callback once the chunk has left the user-space buffer.
 */
async function pushChunks(
  totalBytes: number,
  send: (chunk: Buffer, done: (error?: Error | null) => void) => void,
  buffered: () => number,
  deadline: number,
): Promise<number> {
  // At most SENDER_BUFFER_LIMIT plus one frame is ever queued (ws copies frames to mask them, but a
  // net.Socket keeps the caller's buffer until written), so a ring of buffers this size is never
  // rewritten while still queued. Each frame starts with its sequence number, which the receiver checks.
  const ring = Array.from({ length: SENDER_BUFFER_LIMIT / FRAME_BYTES + 4 }, () =>
    Buffer.alloc(FRAME_BYTES, 0x5a),
  )
  let wake: (() => void) | undefined
  let failure: Error | undefined
  const flushed = (error?: Error | null) => {
    if (error) failure ??= error
    if (wake && (failure || buffered() <= SENDER_BUFFER_LIMIT)) {
      const resolve = wake
      wake = undefined
      resolve()
    }
  }
  let frames = 0
  for (let offset = 0; offset < totalBytes; offset += FRAME_BYTES) {
    const chunk = ring[frames % ring.length]!.subarray(0, Math.min(FRAME_BYTES, totalBytes - offset))
    chunk.writeUInt32BE(frames, 0)
    send(chunk, flushed)
    frames++
    while (buffered() > SENDER_BUFFER_LIMIT && !failure) {
      if (Date.now() > deadline) throw new Error('timed out while sending')
      // The send callbacks wake this; the timer is only a safety net.
      let safety: NodeJS.Timeout | undefined
      await new Promise<void>((resolve) => {
        wake = resolve
        safety = setTimeout(flushed, 50)
      })
      clearTimeout(safety)
    }
    if (failure) throw failure
  }
  return frames
}

/** Pauses a readable 20 ms of every 40 ms; returns a function that stops doing so. */
function stallReader(pause: () => void, resume: () => void): () => void {
  let resumeTimer: NodeJS.Timeout | undefined
  const timer = setInterval(() => {
    pause()
    resumeTimer = setTimeout(resume, STALL_MS)
  }, STALL_PERIOD_MS)
  return () => {
    clearInterval(timer)
    clearTimeout(resumeTimer)
    resume()
  }
}

interface TransferReport extends RssReport {
  mib: number
  seconds: number
  mibPerSec: number
}

function transferReport(totalBytes: number, startedAt: bigint, rss: RssReport): TransferReport {
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9
  return {
    mib: round(totalBytes / MiB, 3),
    seconds: round(seconds, 3),
    mibPerSec: round(totalBytes / MiB / seconds),
    ...rss,
  }
}

const transferTimeoutMs = (totalBytes: number) => 60_000 + (totalBytes / MiB) * 500

// ---------------------------------------------------------------------------------------------
// The rescue gateway

/** Opens a raw peer socket and resolves once the gateway has said "paired". */
function openPeer(gatewayUrl: string, role: 'host' | 'technician', pin: string, token?: string) {
  const url = new URL(WS_PATH[role], gatewayUrl)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  const socket = new WebSocket(url, {
    headers: { [PIN_HEADER]: pin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    maxPayload: MAX_FRAME_BYTES,
    handshakeTimeout: 10_000,
    perMessageDeflate: false,
  })
  onCleanup(() => socket.terminate())
  const paired = new Promise<void>((resolve, reject) => {
    socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) return
      const message = JSON.parse(data.toString('utf8')) as { type?: string; reason?: string }
      if (message.type === 'paired') resolve()
      if (message.type === 'ended') reject(new Error(`${role}: session ended: ${message.reason}`))
    })
    socket.on('error', reject)
    socket.once('unexpected-response', (_request, response) =>
      reject(new Error(`${role}: gateway refused the upgrade with HTTP ${response.statusCode}`)),
    )
    socket.once('close', (code) => reject(new Error(`${role}: socket closed (${code}) before pairing`)))
  })
  return { socket, paired }
}

interface RescueReport extends TransferReport {
  frames: number
  /** Every frame arrived once, in order, at its full size. */
  intact: boolean
}

async function rescueScenario(
  dataDir: string,
  env: NodeJS.ProcessEnv,
  totalBytes: number,
  slowReader: boolean,
): Promise<RescueReport> {
  const gateway = await startCliGateway(dataDir, env)
  try {
    const { token } = await postJson<{ token: string }>(`${gateway.url}/v1/login`, ADMIN)
    const { pin } = await postJson<{ pin: string }>(`${gateway.url}/v1/pins`, {}, token)
    const host = openPeer(gateway.url, 'host', pin)
    const technician = openPeer(gateway.url, 'technician', pin, token)
    await withTimeout(Promise.all([host.paired, technician.paired]), 10_000, 'both peers to be paired')

    let receivedBytes = 0
    let expectedFrame = 0
    let intact = true
    host.socket.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) return
      if (data.readUInt32BE(0) !== expectedFrame) intact = false
      if (data.length !== Math.min(FRAME_BYTES, totalBytes - receivedBytes)) intact = false
      expectedFrame++
      receivedBytes += data.length
    })
    let closed: Error | undefined
    for (const peer of [host, technician]) {
      peer.socket.once(
        'close',
        (code) => (closed ??= new Error(`a peer socket closed (${code}) mid-transfer`)),
      )
    }

    await sleep(200) // let the gateway settle after pairing before taking the baseline
    const rss = sampleRss(gateway.pid, RSS_SAMPLE_MS)
    const stopStalling = slowReader
      ? stallReader(
          () => host.socket.pause(),
          () => host.socket.resume(),
        )
      : () => undefined
    const timeoutMs = transferTimeoutMs(totalBytes)
    const startedAt = process.hrtime.bigint()
    try {
      const frames = await pushChunks(
        totalBytes,
        (chunk, done) => technician.socket.send(chunk, { binary: true }, done),
        () => technician.socket.bufferedAmount,
        Date.now() + timeoutMs,
      )
      await waitUntil(
        () => {
          if (closed) throw closed
          return receivedBytes >= totalBytes
        },
        timeoutMs,
        'the host to receive every byte',
        1,
      )
      const report = transferReport(totalBytes, startedAt, rss.stop())
      return { ...report, frames, intact: intact && receivedBytes === totalBytes }
    } finally {
      stopStalling()
      rss.stop()
      host.socket.close()
      technician.socket.close()
    }
  } finally {
    await stopChild(gateway.child)
  }
}

// ---------------------------------------------------------------------------------------------
// The socat reference

async function socatScenario(totalBytes: number, slowReader: boolean): Promise<TransferReport> {
  // The sink: a Node TCP server that counts what arrives.
  let receivedBytes = 0
  let sinkSocket: net.Socket | undefined
  const sink = net.createServer((socket) => {
    sinkSocket = socket
    onCleanup(() => void socket.destroy())
    socket.on('data', (data: Buffer) => (receivedBytes += data.length))
    socket.on('error', () => undefined)
  })
  onCleanup(() => void sink.close())
  await new Promise<void>((resolve, reject) => {
    sink.once('error', reject)
    sink.listen(0, '127.0.0.1', resolve)
  })
  const sinkPort = (sink.address() as net.AddressInfo).port

  // No `fork`: socat relays the one connection itself, so its own RSS is the relay's.
  const port = await freePort()
  const socat = track(
    spawn('socat', ['-d', '-d', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, `TCP:127.0.0.1:${sinkPort}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  )
  try {
    let stderr = ''
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socat.stderr!.on('data', (data: Buffer) => {
          stderr += data.toString('utf8')
          if (/listening on/.test(stderr)) resolve()
        })
        socat.once('error', reject)
        socat.once('exit', (code) => reject(new Error(`socat exited ${code}: ${stderr.trim()}`)))
      }),
      5000,
      'socat to listen',
    )

    const client = net.connect({ host: '127.0.0.1', port })
    onCleanup(() => void client.destroy())
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        client.once('connect', resolve)
        client.once('error', reject)
      }),
      5000,
      'connecting to socat',
    )
    let failure: Error | undefined
    client.on('error', (error) => (failure ??= error))
    await waitUntil(() => sinkSocket !== undefined, 5000, 'socat to connect to the sink')

    await sleep(200)
    const rss = sampleRss(socat.pid!, RSS_SAMPLE_MS)
    const stopStalling = slowReader
      ? stallReader(
          () => sinkSocket!.pause(),
          () => sinkSocket!.resume(),
        )
      : () => undefined
    const timeoutMs = transferTimeoutMs(totalBytes)
    const startedAt = process.hrtime.bigint()
    try {
      await pushChunks(
        totalBytes,
        (chunk, done) => client.write(chunk, done),
        () => client.writableLength,
        Date.now() + timeoutMs,
      )
      await waitUntil(
        () => {
          if (failure) throw failure
          return receivedBytes >= totalBytes
        },
        timeoutMs,
        'the sink to receive every byte',
        1,
      )
      return transferReport(totalBytes, startedAt, rss.stop())
    } finally {
      stopStalling()
      rss.stop()
      client.destroy()
      sinkSocket?.destroy()
      sink.close()
    }
  } finally {
    await stopChild(socat)
  }
}

// ---------------------------------------------------------------------------------------------

function parseArgs(argv: string[]): { mib: number } {
  let mib = 256
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') {
      process.stderr.write('usage: npx tsx bench/relay.ts [--mib N]   (N MiB per scenario, default 256)\n')
      process.exit(0)
    }
    const value = arg === '--mib' ? argv[++i] : arg.startsWith('--mib=') ? arg.slice('--mib='.length) : null
    if (value === null) throw new UsageError(`unknown argument ${arg}`)
    mib = Number(value)
    if (!Number.isFinite(mib) || mib <= 0) throw new UsageError(`--mib wants a positive number, got ${value}`)
  }
  return { mib }
}

async function main(): Promise<void> {
  const { mib } = parseArgs(process.argv.slice(2))
  const totalBytes = Math.round(mib * MiB)
  if (process.platform !== 'linux') throw new Error('this benchmark reads /proc and needs Linux')
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'commands', 'server.js'))) {
    throw new UsageError('dist/ is missing: build the CLI first with `npm run build`')
  }

  const work = makeTempDir('rescue-bench-')
  const dataDir = path.join(work, 'data')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_CONFIG_HOME: path.join(work, 'config'),
    XDG_DATA_HOME: path.join(work, 'share'),
    RESCUE_CREDENTIAL_STORE: 'file',
    NO_COLOR: '1',
  }
  delete env.RESCUE_DATA
  delete env.RESCUE_HOST
  delete env.RESCUE_PORT

  log(`creating an admin in ${dataDir}`)
  await runCli(
    ['admin', 'init', '--data', dataDir, '--email', ADMIN.email, '--password-stdin'],
    env,
    ADMIN.password,
  )

  const rescue: Record<'fast' | 'slow', RescueReport | undefined> = { fast: undefined, slow: undefined }
  for (const scenario of ['fast', 'slow'] as const) {
    log(`rescue gateway, ${scenario} reader: ${mib} MiB technician -> host`)
    rescue[scenario] = await rescueScenario(dataDir, env, totalBytes, scenario === 'slow')
    log(`  ${rescue[scenario]!.mibPerSec} MiB/s, gateway RSS +${rescue[scenario]!.rssGrowthMiB} MiB`)
  }

  const notes = [
    'socat is a byte-pipe lower bound for the relay: one TCP connection spliced to another, with no WebSocket framing, no TLS, no authentication or pairing, and no per-frame event loop work; it bounds what any relay could reach here, it is not a like-for-like competitor.',
    `rescue: the built gateway (dist/, \`rescue server\`) in its own process on 127.0.0.1, plain ws:// (no TLS); two raw ws peers in the benchmark process, technician -> host, ${FRAME_BYTES / 1024} KiB binary frames; the sender waits while its own bufferedAmount > ${SENDER_BUFFER_LIMIT / 1024} KiB, so only the gateway can be what holds data back.`,
    `slow: the receiver pauses its socket ${STALL_MS} ms of every ${STALL_PERIOD_MS} ms; without backpressure the relay would buffer the difference. The gateway pauses the sender above ${HIGH_WATER_BYTES / 1024} KiB queued towards the receiver and resumes below ${LOW_WATER_BYTES / 1024} KiB.`,
    `seconds: from the first frame sent until the receiver has every byte; mibPerSec = mib / seconds.`,
    `rss*: the relay process's VmRSS from /proc/<pid>/status, sampled every ${RSS_SAMPLE_MS} ms from just before the transfer (rssBeforeMiB) to its end; rssGrowthMiB = peak - before. kernelPeakMiB is the kernel's VmHWM after resetting it (clear_refs 5) at the start, so it also catches spikes between samples (the kernel updates it lazily, so it can read a hair below the sampled peak). rssSamples is how many samples were taken: fewer than seconds / 20 ms when the benchmark's own event loop is busy.`,
    "each rescue scenario runs on a freshly started gateway process, so the slow one does not inherit the fast one's heap.",
    `machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? 'unknown'}); the relay, the peers/sink and the sender share them.`,
  ]

  let reference: Record<string, unknown>
  const version = commandVersion('socat', ['-V'], /socat version (\S+)/)
  if (version === undefined) {
    const hint =
      'socat not found: install it (Debian/Ubuntu: sudo apt-get install -y socat) to get the reference'
    log(hint)
    reference = { tool: 'socat', version: null, skipped: hint }
    notes.push(`no reference in this run: ${hint}`)
  } else {
    const socat: Record<'fast' | 'slow', TransferReport | undefined> = { fast: undefined, slow: undefined }
    for (const scenario of ['fast', 'slow'] as const) {
      log(`socat reference, ${scenario} reader: ${mib} MiB client -> sink`)
      socat[scenario] = await socatScenario(totalBytes, scenario === 'slow')
      log(`  ${socat[scenario]!.mibPerSec} MiB/s, socat RSS +${socat[scenario]!.rssGrowthMiB} MiB`)
    }
    reference = { tool: 'socat', version, ...socat }
  }

  const result = { bench: 'relay', mib, node: process.version, rescue, reference, notes }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
}

await runBench(log, main)
