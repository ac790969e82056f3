/**
 * The technician's side of a session: pairs, then connects SSH over the sealed-and-verified
 * stream, trusting only the host key that came inside the sealed channel. What to do with the SSH
 * connection (a shell, a command, nothing) is the caller's. Imports core only.
 */
import path from 'node:path'
import type { Readable, Writable } from 'node:stream'
import type ssh2 from 'ssh2'
import type { ClientChannel } from 'ssh2'
import { startControlSocket, type ControlSocket, type PolicyCheck } from '../bridge/index.js'
import { openChat, type ChatMessage } from '../chat/index.js'
import type { Permission } from '../consent/types.js'
import { api, type RecordingKeyInfo } from '../client/index.js'
import { UserError } from '../errors.js'
import {
  startSession,
  type DirectMode,
  type Session,
  type SessionEvent,
  type SessionReport,
  type WordsEvent,
} from '../session/index.js'
import { generateSshKeyPair, type SshKeyPair } from '../ssh/keys.js'
import { CONTROL_SUBSYSTEM, VIEW_SUBSYSTEM, WORDS_SUBSYSTEM } from '../ssh/subsystems.js'
import type { DeviceCredential } from '../trust/index.js'
import {
  connectSsh,
  openRemoteShell,
  openSubsystem,
  runRemoteCommand,
  settleOnClose,
  type RemoteExit,
} from '../ssh/technician-client.js'
import { Refusals, unexplained } from './refusals.js'
import { TechnicianRecordings } from '../recordings/technician.js'

export interface TechnicianOptions {
  server: string
  /** How the technician comes in: with their PIN, or taking a session from a queue. */
  entry: { pin: string } | { sessionId: string }
  token: string
  onEvent(event: TechnicianEvent): void
  /** Where to open the session's control socket (`<session id>.sock`) once SSH is up; none without. */
  controlDir?: string
  /** How long a dropped link may take to come back before the session ends. */
  resumeGraceMs?: number
  /** `--direct` / `--no-direct`: whether to try a direct link with the end user (session/direct.ts). */
  direct?: DirectMode
  /**
   * The end user's chat lines, from the moment SSH is up: `connect` keeps a chat of its own open,
   * so what the end user writes reaches the technician with or without a `rescue chat` running.
   */
  onChat?(message: ChatMessage): void
  /** This machine's device certificate and key, presented to hosts that check them (`--trust`). */
  device?: DeviceCredential
  /** `--record DIR`: keep a recording of each shell and command in DIR. */
  recordDir?: string
  /** A recording stopped (it could not be written or uploaded): its shell or command was closed. */
  onRecordingProblem?(reason: string): void
  /** A shell or command is being recorded: for the gateway (sealed), in a local file, or both. */
  onRecording?(recording: { kind: 'shell' | 'exec'; uploaded: boolean; file?: string }): void
}

/** What the technician's side reports: the session's events, and the end user's answer about the words. */
export type TechnicianEvent = SessionEvent | WordsEvent

export interface TechnicianSession {
  session: Session
  /**
   * Resolves once SSH is up; rejects with a UserError when the session ends first. After the end
   * user's computer restarted (`rescue reboot`) it is the new SSH connection's.
   */
  readonly ssh: Promise<ssh2.Client>
  /** Resolves when the end user's computer is back from a restart with a new SSH connection. */
  readonly restarted: Promise<void>
  /**
   * Resolves once the host says, over SSH, that the end user confirmed the security words
   * (`confirmed`) or that it has nobody to ask (`unchecked`); rejects when the session ends first.
   * `exec` and `shell` wait for it, so the end user is never asked before they compared the words.
   */
  words: Promise<'confirmed' | 'unchecked'>
  /** Runs one command once the end user allows it; rejects with `denied` when refused. */
  exec(command: string, io: { stdout: Writable; stderr: Writable; stdin?: Readable }): Promise<RemoteExit>
  /** Asks the gateway whether the technician's groups allow any of these; rejects `forbidden` when not. */
  check: PolicyCheck
  /** Why the host just refused a channel request for `permission` (the end user, policy, no answer...). */
  explain(permission: Permission): Promise<UserError>
  /** Resolves once every recording is finished and uploaded (call it before leaving). */
  flushRecordings(): Promise<void>
  /** Opens a shell once the end user allows it; `closed` settles when it ends. */
  shell(pty?: {
    term: string
    cols: number
    rows: number
  }): Promise<{ channel: ClientChannel; closed: Promise<RemoteExit> }>
  /**
   * Watches the end user's shared terminal once they allow it (`view`): the channel carries its
   * output; write share/frames.ts frames to it (window sizes; keys, which go nowhere without control).
   */
  watch(): Promise<{ channel: ClientChannel; closed: Promise<RemoteExit> }>
  /** Asks to type in the shared terminal (`control`); `closed` settles when the end user takes it back. */
  control(): Promise<{ channel: ClientChannel; closed: Promise<RemoteExit> }>
}

/** Starts the technician side; rejects with a UserError when the gateway refuses. */
export async function startTechnician(options: TechnicianOptions): Promise<TechnicianSession> {
  // Made once the pairing has begun (session/index.ts), not before the gateway is contacted.
  let keys: SshKeyPair | undefined
  const sshKeys = () => (keys ??= generateSshKeyPair())
  let resolveSsh!: (client: ssh2.Client) => void
  let rejectSsh!: (error: Error) => void
  let resolveWords!: (outcome: 'confirmed' | 'unchecked') => void
  let rejectWords!: (error: Error) => void
  let resolveRestarted!: () => void
  let ssh!: Promise<ssh2.Client>
  let words!: Promise<'confirmed' | 'unchecked'>
  let restarted!: Promise<void>
  /** New promises for a new SSH connection: the first, and each after a restart of the end user's computer. */
  const freshPromises = () => {
    ssh = new Promise<ssh2.Client>((resolve, reject) => {
      resolveSsh = resolve
      rejectSsh = reject
    })
    // Callers that never ask for SSH must not see an unhandled rejection.
    ssh.catch(() => {})
    words = new Promise<'confirmed' | 'unchecked'>((resolve, reject) => {
      resolveWords = resolve
      rejectWords = reject
    })
    words.catch(() => {})
    restarted = new Promise<void>((resolve) => (resolveRestarted = resolve))
  }
  freshPromises()
  let client: ssh2.Client | undefined
  let hostKey = ''
  let recorder: Promise<TechnicianRecordings | undefined> | undefined
  let recordingKey: Promise<RecordingKeyInfo> | undefined
  let sessionId = ''
  let control: ControlSocket | undefined
  let refusals: Refusals | undefined
  const explain = (permission: Permission) => refusals?.explain(permission) ?? Promise.resolve(unexplained())
  // The gateway refuses what the technician's groups deny before the end user is ever asked.
  const check: PolicyCheck = async (permissions) => {
    if (permissions.length === 0) return
    await api.checkPermissions(options.server, options.token, sessionId, permissions)
  }

  const session: Session = await startSession({
    server: options.server,
    entry: options.entry,
    role: 'technician',
    token: options.token,
    sshPublicKey: () => sshKeys().publicKey,
    ...(options.resumeGraceMs !== undefined ? { resumeGraceMs: options.resumeGraceMs } : {}),
    ...(options.direct ? { direct: options.direct } : {}),
    ...(options.device ? { device: options.device } : {}),
    onEvent(event) {
      if (event.event === 'paired') sessionId = event.sessionId
      if (event.event === 'link-lost' && event.restarting) {
        // The host's SSH is going with its computer: the end of this connection is not a failure.
        client?.removeAllListeners('error')
        client?.on('error', () => {})
      }
      if (event.event === 'restarted') {
        const old = client
        client = undefined
        recorder = undefined
        recordingKey = undefined
        const resolveOld = resolveRestarted
        freshPromises()
        // Its shells and commands close now: the host's processes went with its computer.
        old?.destroy()
        resolveOld()
      }
      if (event.event === 'ended') {
        void control?.close()
        // destroy, not end: ssh2 fails its outstanding requests only when the connection closes.
        client?.destroy()
        const ended = new UserError(event.code ?? 'sessionEnded', `the session ended: ${event.reason}`)
        rejectSsh(ended)
        rejectWords(ended)
      }
      options.onEvent(event)
    },
    onSecured({ transport, peerSshKey }) {
      hostKey = `${peerSshKey.type} ${peerSshKey.getPublicSSH().toString('base64')}`
      connectSsh({ transport, privateKey: sshKeys().privateKey, hostKey: peerSshKey }).then(
        (connected) => {
          client = connected
          refusals = Refusals.open(connected)
          // The SSH transport dying on its own (not through the session) ends the session.
          connected.on('error', (error) =>
            session.end({ reason: `SSH failed: ${error.message}`, code: 'connectionLost' }),
          )
          resolveSsh(connected)
          const onChat = options.onChat
          if (onChat) {
            // Failing to open it costs only the chat; the session goes on.
            openChat(connected, { self: 'technician', onMessage: onChat }).catch(() => {})
          }
          askForWords(connected)
          if (options.controlDir && sessionId) {
            // After a restart the socket is the new connection's: the old one goes first.
            const previous = control
            control = undefined
            void (previous?.close() ?? Promise.resolve())
              .then(() =>
                startControlSocket(
                  connected,
                  path.join(options.controlDir!, `${sessionId}.sock`),
                  check,
                  explain,
                ),
              )
              .then(
                (opened) => (control = opened),
                () => {}, // Other commands will say there is no live session; this one goes on.
              )
          }
        },
        (error: UserError) => {
          rejectSsh(error)
          session.end({ reason: error.message, code: 'pairingFailed' })
        },
      )
    },
  })
  /** Asks the host, inside SSH, for the end user's answer about the security words. */
  function askForWords(client: ssh2.Client): void {
    const told = (event: 'words-waiting' | 'words-confirmed' | 'words-unchecked') =>
      options.onEvent({ event, role: 'technician', sessionId })
    told('words-waiting')
    client.subsys(WORDS_SUBSYSTEM, (error, channel) => {
      // Refused: the words differ, and the host ends the session saying so.
      if (error) return
      let answer = ''
      channel.on('data', (chunk: Buffer) => (answer = (answer + chunk.toString('utf8')).slice(0, 100)))
      channel.stderr.resume()
      channel.on('close', () => {
        const outcome = answer.trim()
        if (outcome !== 'confirmed' && outcome !== 'unchecked') return
        told(outcome === 'confirmed' ? 'words-confirmed' : 'words-unchecked')
        resolveWords(outcome)
      })
    })
  }

  // The gateway's session log hears what was asked, allowed and closed: never commands or output.
  type ChannelReport = Extract<SessionReport, { kind: string }>
  const report = (event: ChannelReport['event'], kind: ChannelReport['kind'], allowed?: boolean) =>
    session.report({ event, kind, ...(allowed !== undefined ? { allowed } : {}) })
  // A channel whose session ends under it never sees its close from SSH: it ends with no status.
  const sessionOver: Promise<RemoteExit> = session.done.then(() => ({}))
  // A channel whose host restarted under it (rescue reboot) ends with no status either: its process is gone.
  const overOrRestarted = (): Promise<RemoteExit> => Promise.race([sessionOver, restarted.then(() => ({}))])
  // A refusal by the host comes with its reason, told on the refusals channel just before it.
  const reportRefusal = (kind: ChannelReport['kind'] & Permission) => async (error: unknown) => {
    const refused = error instanceof UserError && error.code === 'denied' ? await explain(kind) : error
    if (refused instanceof UserError && ['denied', 'forbidden'].includes(refused.code)) {
      report('consent-decision', kind, false)
    }
    throw refused
  }
  // The gateway's own refusal already says why.
  const reportGatewayRefusal = (kind: ChannelReport['kind']) => (error: unknown) => {
    if (error instanceof UserError && ['denied', 'forbidden'].includes(error.code)) {
      report('consent-decision', kind, false)
    }
    throw error
  }

  /**
   * What this session records, asked of the gateway once: the policy's requirement and the key
   * to seal to, plus `--record DIR`. Undefined when nothing is recorded.
   */
  /**
   * The organisation's recording policy and key, asked once; asked again after a failure. A shell
   * or command asks for it at the same time as the policy check, not after it: one round trip to
   * the gateway less before the first byte (issue 12). Asking has no effect of its own.
   */
  const recordingPolicy = (): Promise<RecordingKeyInfo> => {
    if (!recordingKey) {
      const asked = api.recordings.key(options.server, options.token)
      recordingKey = asked
      asked.catch(() => {
        if (recordingKey === asked) recordingKey = undefined
      })
    }
    return recordingKey
  }
  const recordings = (connected: ssh2.Client): Promise<TechnicianRecordings | undefined> => {
    recorder ??= (async () => {
      const info = await recordingPolicy()
      const required = info.mode !== 'off'
      if (required && !info.publicKey) {
        throw new UserError(
          'forbidden',
          'your organisation requires recording shells and commands, but has no recording key',
          'an admin must run rescue admin recordings key init',
        )
      }
      if (!required && !options.recordDir) return undefined
      if (!required) await check(['record'])
      return new TechnicianRecordings({
        client: connected,
        server: options.server,
        token: options.token,
        sessionId,
        hostKey,
        plan: {
          ...(required
            ? { upload: { publicKey: info.publicKey!, input: info.mode === 'required-input' } }
            : {}),
          ...(options.recordDir ? { dir: options.recordDir } : {}),
        },
        onProblem: (reason) => options.onRecordingProblem?.(reason),
      })
    })()
    // A refusal is said each time it is asked: the next try asks the gateway again.
    recorder.catch(() => (recorder = undefined))
    return recorder
  }
  const prepareRecording = async (connected: ssh2.Client, kind: 'shell' | 'exec', command?: string) => {
    const recorder = await recordings(connected)
    const recording = await recorder?.prepare(kind, command)
    if (recording)
      options.onRecording?.({
        kind,
        uploaded: recorder!.uploading,
        ...(recording.file ? { file: recording.file } : {}),
      })
    return recording
  }
  /** A subsystem channel asked as `permission`, with the same waits, reports and reasons as a shell. */
  async function openAsked(permission: 'view' | 'control', name: string) {
    const client = await ssh
    await words
    await check([permission]).catch(reportGatewayRefusal(permission))
    const ended = session.done.then((end) => {
      throw new UserError(end.code ?? 'sessionEnded', `the session ended: ${end.reason}`)
    })
    const channel = await Promise.race([openSubsystem(client, name), ended]).catch(reportRefusal(permission))
    report('consent-decision', permission, true)
    report('channel-open', permission)
    // A control channel carries nothing: read it anyway, or its close (control taken back) never shows.
    if (permission === 'control') channel.resume()
    channel.stderr.resume()
    const closed = Promise.race([settleOnClose(channel), overOrRestarted()]).finally(() =>
      report('channel-close', permission),
    )
    return { channel, closed }
  }

  return {
    session,
    get ssh() {
      return ssh
    },
    get restarted() {
      return restarted
    },
    get words() {
      return words
    },
    check,
    explain,
    flushRecordings: async () => {
      const active = await recorder?.catch(() => undefined)
      await active?.flush()
    },
    watch: () => openAsked('view', VIEW_SUBSYSTEM),
    control: () => openAsked('control', CONTROL_SUBSYSTEM),
    async exec(command, io) {
      const client = await ssh
      await words
      if (!recorder) void recordingPolicy()
      await check(['exec']).catch(reportGatewayRefusal('exec'))
      const recording = await prepareRecording(client, 'exec', command)
      const running = runRemoteCommand(client, command, {
        ...io,
        onOpen(channel) {
          recording?.attach(channel, undefined)
          report('consent-decision', 'exec', true)
          report('channel-open', 'exec')
        },
      })
        .catch((error: unknown) => {
          recording?.abandon()
          throw error
        })
        .catch(reportRefusal('exec'))
      const exit = await Promise.race([running, overOrRestarted()])
      report('channel-close', 'exec')
      return exit
    },
    async shell(pty) {
      const client = await ssh
      await words
      if (!recorder) void recordingPolicy()
      await check(['shell']).catch(reportGatewayRefusal('shell'))
      // A session that ends while the end user is being asked (Ctrl-C, the end user's q) never
      // answers the request: without this race the command would wait on it forever.
      const ended = session.done.then((end) => {
        throw new UserError(end.code ?? 'sessionEnded', `the session ended: ${end.reason}`)
      })
      const recording = await prepareRecording(client, 'shell')
      const channel = await Promise.race([openRemoteShell(client, pty), ended])
        .catch((error: unknown) => {
          recording?.abandon()
          throw error
        })
        .catch(reportRefusal('shell'))
      recording?.attach(channel, pty)
      report('consent-decision', 'shell', true)
      report('channel-open', 'shell')
      const closed = Promise.race([settleOnClose(channel), overOrRestarted()]).finally(() =>
        report('channel-close', 'shell'),
      )
      return { channel, closed }
    },
  }
}
