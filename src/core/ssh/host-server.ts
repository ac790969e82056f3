/**
 * The host's SSH server, run on the session's relayed stream once the sealed pairing is done. It
 * accepts only the technician key received inside the sealed channel, and puts every channel
 * request (shell, exec, subsystem) through the consent broker before anything runs: a shell in a
 * real PTY, a command with its own stdout, stderr and exit status, as the end user.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import os from 'node:os'
import type { Duplex } from 'node:stream'
import ssh2, { type AuthContext, type Connection, type ParsedKey, type ServerChannel } from 'ssh2'
import {
  MAX_DETAIL_LENGTH,
  SINGLE_PROMPT_SUBSYSTEM,
  type ConsentBroker,
  type ConsentOutcome,
  type Permission,
  type Refusal,
  type RequestOptions,
} from '../consent/index.js'
import type { ChannelKind, HostActivity } from '../host/events.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import { technicianEnvironment } from './environment.js'
import { serveSftp } from './sftp-server.js'
import {
  CHAT_SUBSYSTEM,
  MAX_CHAT_HISTORY,
  serveChat,
  type ChatLink,
  type ChatMessage,
} from '../chat/index.js'
import { SYSINFO_SUBSYSTEM } from '../sysinfo/index.js'
import { serveSysinfo } from '../sysinfo/subsystem.js'
import { serveTransfer } from '../transfer/host-service.js'
import { TransferLedger } from '../transfer/ledger.js'
import { TRANSFER_SUBSYSTEM } from '../transfer/protocol.js'
import { FILE_STREAM_SUBSYSTEM, OpenFiles } from '../transfer/stream.js'
import { serveFileStream } from '../transfer/stream-service.js'
import type { WordsOutcome } from '../host/words.js'
import { WORDS_SUBSYSTEM } from './subsystems.js'
import { REFUSALS_SUBSYSTEM, REVOKED_MESSAGE } from './subsystems.js'
import { RECORDING_SUBSYSTEM } from '../recordings/checkpoint.js'
import { HostRecordings } from '../recordings/host.js'
import { CONTROL_SUBSYSTEM, CONTROL_TAKEN_BACK, URL_SUBSYSTEM, VIEW_SUBSYSTEM } from './subsystems.js'
import { checkUrl, MAX_URL_LENGTH, openWithSystem } from '../tools/url.js'
import {
  checkClipboardText,
  clipboardRequest,
  copyOnHost,
  MAX_CLIPBOARD_LINE,
  pasteOnHost,
} from '../tools/clipboard.js'
import { CLIPBOARD_SUBSYSTEM, REBOOT_SUBSYSTEM } from './subsystems.js'
import { serveReboot, type HostReboot } from '../reboot/host.js'
import { refusalError } from '../consent/refusal.js'
import { ViewFrameDecoder, type SharedTerminal, type Viewer } from '../share/index.js'
import { servePresent } from '../present/host.js'
import { PRESENT_SUBSYSTEM, type PresentStage } from '../present/index.js'

/** What the group's policy says of recording, as the SSH server applies it. */
export interface RecordingRule {
  required: boolean
  input: boolean
  allowed: boolean
}

/** The rule from the policy's recording setting and permissions (`record` allows it unasked-for). */
export function recordingRule(
  recording: 'off' | 'required' | 'required-input',
  permissions: readonly string[],
): RecordingRule {
  return {
    required: recording !== 'off',
    input: recording === 'required-input',
    allowed: recording !== 'off' || permissions.includes('record'),
  }
}

export interface HostSshOptions {
  transport: Duplex
  /** This session's host key (OpenSSH private key text). */
  hostKey: string
  /** The technician's key, as received inside the sealed channel: the only one accepted. */
  technicianKey: ParsedKey
  broker: ConsentBroker
  onActivity(activity: HostActivity): void
  /** SSH failed (a bad key, a broken stream): the session cannot go on. */
  onFailure(reason: string): void
  /** What the end user said about the security words, once they said it (see host/words.ts). */
  words?: Promise<WordsOutcome>
  /** This session's id, named in the recordings' signed checkpoints. */
  sessionId?: string
  /** The policy's recording setting; with `required`, no shell or command runs unrecorded. */
  recording?: RecordingRule
  /** The end user's shared terminal (`rescue host --share`): what `view@rescue` watches. */
  share?: SharedTerminal
  /** What a restart the end user allowed does (host/index.ts); without it, `reboot@rescue` is refused. */
  reboot?: HostReboot
  /** The end user's screen, where a technician may show their own terminal (`rescue present`). */
  stage?: PresentStage
  /** Who asks, as the consent prompts name them: shown above a presentation. */
  technician?: string
}

interface PtyRequest {
  term: string
  cols: number
  rows: number
}

/** What must stop when the end user revokes access: one running shell or command. */
interface OpenChannel {
  kind: ChannelKind
  /** `message` goes with the HUP exit signal: the end user revoked access, the recording stopped... */
  stop(message?: string): void
}

export class HostSshServer {
  private readonly server: ssh2.Server
  private connection?: Connection
  private readonly open = new Map<number, OpenChannel>()
  private channelCount = 0
  private readonly chats = new Set<ChatLink>()
  /** This technician's chat so far, both sides, replayed to each chat they open. */
  private readonly chatHistory: ChatMessage[] = []
  /** The technician's `refusals@rescue` channels: told why before a channel request is refused. */
  private readonly refusalLinks = new Set<ServerChannel>()
  /** This session's file transfers, shared by its SFTP channels and `transfer@rescue`. */
  private readonly ledger = new TransferLedger()
  /** Files this session's SFTP channels have open, which `file-stream@rescue` moves the bytes of. */
  private readonly openFiles = new OpenFiles()
  private closed = false
  /** The technician's `recording@rescue` channels and each shell's and command's checkpoints. */
  private readonly recordings: HostRecordings
  /** The open `control@rescue` channels: while there is one, the technician's keys reach the shared terminal. */
  private readonly controlling = new Map<number, ServerChannel>()
  /** Typing without control is logged once, not for every key, until control is next given. */
  private toldNoControl = false

  constructor(private readonly options: HostSshOptions) {
    this.recordings = new HostRecordings({
      hostKey: options.hostKey,
      sessionId: options.sessionId ?? '',
      required: options.recording?.required ?? false,
      input: options.recording?.input ?? false,
      onActivity: (activity) => options.onActivity(activity),
      // A required recording that stopped: nothing may go on unrecorded.
      onStopped: (reason) => this.closeRecordedChannels(reason),
    })
    this.server = new ssh2.Server({ hostKeys: [options.hostKey], ident: 'rescue' }, (connection) =>
      this.onConnection(connection),
    )
    this.server.injectSocket(options.transport as never)
  }

  /** Closes every running shell and command at once; returns how many there were. */
  closeAllChannels(): number {
    const channels = [...this.open.entries()]
    for (const [id, channel] of channels) {
      try {
        channel.stop()
      } catch {
        // The SSH stream is already gone (the session ended): its processes were still signalled first.
      }
      // Reported closed now, not when the process is reaped: the session (and its log) may end first.
      this.open.delete(id)
      this.options.onActivity({ event: 'channel-close', channel: id, kind: channel.kind, signal: 'SIGHUP' })
    }
    return channels.length
  }

  /** A required recording stopped: every shell and command closes, saying why. */
  private closeRecordedChannels(reason: string): void {
    for (const [id, channel] of [...this.open.entries()]) {
      if (channel.kind === 'sftp') continue
      try {
        channel.stop(`the recording stopped: ${reason}`)
      } catch {
        // The SSH stream is already gone.
      }
      this.open.delete(id)
      this.options.onActivity({ event: 'channel-close', channel: id, kind: channel.kind, signal: 'SIGHUP' })
    }
  }

  /** Ends SSH: every channel is closed and the connection dropped. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.closeAllChannels()
    this.recordings.close()
    this.connection?.end()
    this.server.close()
  }

  private onConnection(connection: Connection): void {
    this.connection = connection
    connection.on('error', (error) => {
      if (!this.closed) this.options.onFailure(`SSH failed: ${error.message}`)
    })
    connection.on('authentication', (context) => this.authenticate(context))
    connection.on('ready', () => {
      connection.on('session', (accept) => this.onSession(accept()))
      connection.on('tcpip', (_accept, reject, info) => {
        this.options.broker.refuse(`a connection to ${info.destIP}:${info.destPort} through this computer`)
        reject()
      })
      connection.on('openssh.streamlocal', (_accept, reject, info) => {
        this.options.broker.refuse(
          `a connection to the local socket ${info.socketPath} through this computer`,
        )
        reject()
      })
      connection.on('request', (_accept, reject, name) => {
        this.options.broker.refuse(`the SSH request "${name}"`)
        reject?.()
      })
    })
  }

  private authenticate(context: AuthContext): void {
    const expected = this.options.technicianKey
    if (
      context.method !== 'publickey' ||
      context.key.algo !== expected.type ||
      !context.key.data.equals(expected.getPublicSSH())
    ) {
      return context.reject(['publickey'])
    }
    // Without a signature the client only asks whether the key would do; with one it proves it holds it.
    if (!context.signature) return context.accept()
    const valid = expected.verify(context.blob!, context.signature, context.hashAlgo)
    if (valid === true) context.accept()
    else context.reject(['publickey'])
  }

  private onSession(session: ssh2.Session): void {
    let pty: PtyRequest | undefined
    let resize: ((cols: number, rows: number) => void) | undefined
    session.on('pty', (accept, _reject, info) => {
      pty = { term: info.term || 'xterm-256color', cols: info.cols || 80, rows: info.rows || 24 }
      accept?.()
    })
    session.on('window-change', (accept, _reject, info) => {
      if (pty) pty = { ...pty, cols: info.cols, rows: info.rows }
      resize?.(info.cols, info.rows)
      accept?.()
    })
    // As sshd's default AcceptEnv: the technician's locale (LANG, LC_*) reaches the commands and
    // shells of this channel; any other variable is refused, and said so (TERM comes with pty-req).
    const locale: Record<string, string> = {}
    session.on('env', (accept, reject, info) => {
      if (ACCEPTED_ENV.test(info.key) && !info.val.includes('\0') && info.val.length <= 256) {
        locale[info.key] = info.val
        this.options.onActivity({ event: 'env', name: info.key, value: sanitizeForTerminal(info.val, 256) })
        return accept?.()
      }
      this.options.broker.refuse(`the environment variable ${sanitizeForTerminal(info.key, 100)}`)
      reject?.()
    })
    // One shell or command per channel, as in OpenSSH: a second request on the same channel is refused.
    let claimed = false
    const withdrawn = new AbortController()
    session.once('close', () => withdrawn.abort())
    const ask = (
      permission: 'shell' | 'exec' | 'sysinfo' | 'view' | 'control' | 'present',
      summary: string,
      detail?: string,
    ): Promise<boolean> => {
      if (claimed) {
        this.options.broker.refuse(`a second ${permission} request on a channel already in use`)
        return Promise.resolve(false)
      }
      claimed = true
      // A presentation runs nothing here: the technician's own terminal is theirs to record.
      if (permission !== 'sysinfo' && permission !== 'present') {
        const unrecorded = this.recordings.refusal(permission)
        if (unrecorded) {
          this.options.broker.refuse(unrecorded)
          return Promise.resolve(false)
        }
        // The end user is told, in the very question, that what they allow is recorded.
        if (this.recordings.active) summary = `${summary} (recorded)`
      }
      return this.decideChannel(permission, summary, {
        ...(detail !== undefined ? { detail } : {}),
        withdrawn: withdrawn.signal,
      })
    }
    const user = os.userInfo().username
    session.on('shell', (accept, reject) => {
      void ask('shell', `open a shell as ${user} on this computer`).then((allowed) => {
        // accept() gives nothing when the channel closed while the end user was deciding.
        const channel = allowed ? accept() : undefined
        if (!channel) return reject?.()
        // Without pty-req, as with ssh -T: a shell reading commands from the channel, no terminal.
        if (!pty) return this.startCommand(channel, 'shell', undefined, locale)
        void this.startShell(channel, pty, undefined, locale).then((control) => {
          resize = control
        })
      })
    })
    session.on('exec', (accept, reject, info) => {
      if (!fitsInPrompt(info.command)) {
        this.options.broker.refuse(`a command too long to show in full (${info.command.length} characters)`)
        return reject?.()
      }
      void ask('exec', `run a command as ${user} on this computer`, info.command).then((allowed) => {
        const channel = allowed ? accept() : undefined
        if (!channel) return reject?.()
        // ssh -t: the command gets a terminal of its own, as sshd gives it.
        if (pty) {
          void this.startShell(channel, pty, info.command, locale).then((control) => {
            resize = control
          })
          return
        }
        this.startCommand(channel, 'exec', info.command, locale)
      })
    })
    // ssh2 hands the sftp subsystem here; each file operation inside it asks for its own consent.
    session.on('sftp', (accept, reject) => {
      const sftp = this.closed ? undefined : accept()
      if (!sftp) return reject?.()
      const id = this.track('sftp', undefined, { stop: () => sftp.end() })
      sftp.on('close', () => this.finishSftp(id))
      // The client's EOF means it is done (OpenSSH's sftp and scp then wait for us to close).
      sftp.on('end', () => sftp.end())
      serveSftp(sftp, {
        home: os.homedir(),
        ledger: this.ledger,
        openFiles: this.openFiles,
        consent: {
          ask: (permission, summary, detail, withdrawn, scope) =>
            this.closed
              ? Promise.resolve(false)
              : this.options.broker.decide(permission, summary, {
                  detail,
                  ...(withdrawn ? { withdrawn } : {}),
                  ...(scope ? { scope } : {}),
                }),
        },
        onActivity: (activity) => this.options.onActivity(activity),
      })
    })
    session.on('subsystem', (accept, reject, info) => {
      if (info.name === CHAT_SUBSYSTEM && !claimed) {
        // Chat needs no consent (DESIGN.md); every line is shown and logged on this side.
        claimed = true
        const channel = accept()
        if (channel) this.chat(channel)
        return
      }
      if (info.name === RECORDING_SUBSYSTEM && !claimed) {
        claimed = true
        if (this.closed || !(this.options.recording?.allowed ?? false)) {
          this.options.broker.refuse(
            "a recording of this session: the technician's groups do not allow record",
          )
          return reject?.()
        }
        const channel = accept()
        if (channel) this.recordings.addLink(channel)
        return
      }
      if (info.name === REFUSALS_SUBSYSTEM && !claimed) {
        // Tells only why the technician's own requests were refused: no consent needed, as for chat.
        claimed = true
        const channel = this.closed ? undefined : accept()
        if (!channel) return reject?.()
        this.refusalLinks.add(channel)
        channel.on('data', () => {})
        channel.on('error', () => {})
        channel.on('close', () => this.refusalLinks.delete(channel))
        return
      }
      if (info.name === TRANSFER_SUBSYSTEM && !claimed) {
        // Opening it asks nothing: a folder transfer asks inside it, and hashes are only of files the
        // technician was let read or wrote itself.
        claimed = true
        const channel = this.closed ? undefined : accept()
        if (!channel) return reject?.()
        serveTransfer(channel, {
          ledger: this.ledger,
          home: os.homedir(),
          ask: (permission, summary, detail, withdrawn, scope, needs) =>
            this.options.broker.decide(permission, summary, {
              detail,
              withdrawn,
              scope,
              ...(needs ? { needs } : {}),
            }),
          grantTransfer: (permissions, folder, until) =>
            this.options.broker.grantTransfer(permissions, folder, until),
          refuse: (what) => this.options.broker.refuse(what),
        })
        return
      }
      if (info.name === FILE_STREAM_SUBSYSTEM && !claimed) {
        // Opening it asks nothing: it moves bytes only of files an SFTP OPEN of this connection
        // asked the end user for, and only as that handle's WRITEs and READs would.
        claimed = true
        const channel = this.closed ? undefined : accept()
        if (!channel) return reject?.()
        // Not tracked as a channel of its own: revoking access ends the SFTP channel, which closes
        // its handles, and the stream stops at its next block.
        serveFileStream(channel, this.openFiles)
        return
      }
      if (info.name === SINGLE_PROMPT_SUBSYSTEM && !claimed) {
        // One question for everything the technician's groups allow, answered by accepting or not.
        claimed = true
        void this.options.broker.requestEverything(withdrawn.signal).then((outcome) => {
          if (!outcome.allowed) this.tellRefusal(outcome)
          const channel = outcome.allowed && !this.closed ? accept() : undefined
          if (!channel) return reject?.()
          channel.exit(0)
          channel.end()
        })
        return
      }
      if (info.name === WORDS_SUBSYSTEM && !claimed && this.options.words) {
        // Answered once the end user has: accepted with the outcome, refused when the words differ.
        claimed = true
        void this.options.words.then((outcome) => {
          const channel = outcome !== 'rejected' && !this.closed ? accept() : undefined
          if (!channel) return reject?.()
          channel.write(`${outcome}\n`)
          channel.exit(0)
          channel.end()
        })
        return
      }
      if (info.name === CLIPBOARD_SUBSYSTEM && !claimed) {
        // Accepted unasked, to read what is pushed: the question shows it whole.
        claimed = true
        const channel = this.closed ? undefined : accept()
        if (!channel) return reject?.()
        this.serveClipboard(channel, withdrawn.signal)
        return
      }
      if (info.name === REBOOT_SUBSYSTEM && !claimed) {
        claimed = true
        const channel = this.closed ? undefined : accept()
        if (!channel) return reject?.()
        serveReboot(channel, {
          ...(this.options.reboot ? { reboot: this.options.reboot } : {}),
          decide: () =>
            this.options.broker.decide('reboot', 'restart this computer', {
              detail:
                'this session ends now and comes back after the restart when you run rescue host --resume (you will be asked again for everything)',
              withdrawn: withdrawn.signal,
            }),
          tellRefusal: (outcome) => this.tellRefusal(outcome),
          refuse: (what) => this.options.broker.refuse(what),
          closed: () => this.closed,
        })
        return
      }
      if (info.name === URL_SUBSYSTEM && !claimed) {
        // Accepted unasked, to read the address: the question needs it, shown whole.
        claimed = true
        const channel = this.closed ? undefined : accept()
        if (!channel) return reject?.()
        this.serveUrl(channel, withdrawn.signal)
        return
      }
      if (info.name === VIEW_SUBSYSTEM || info.name === CONTROL_SUBSYSTEM) {
        const share = this.options.share
        if (!share) {
          this.options.broker.refuse('watching a terminal the end user does not share')
          return reject?.()
        }
        const watch = info.name === VIEW_SUBSYSTEM
        void (
          watch
            ? ask(
                'view',
                'watch your shared terminal (read only: they cannot type in it unless you let them)',
              )
            : ask(
                'control',
                'type in your shared terminal (you see who typed last; Ctrl-] takes it back at once)',
              )
        ).then((allowed) => {
          const channel = allowed && !share.hasExited ? accept() : undefined
          if (!channel) return reject?.()
          if (watch) this.startView(channel, share)
          else this.startControl(channel)
        })
        return
      }
      if (info.name === PRESENT_SUBSYSTEM) {
        const stage = this.options.stage
        if (!stage || stage.busy) {
          this.options.broker.refuse(
            stage
              ? 'a second presentation while one is shown'
              : 'a presentation: this screen cannot show one',
          )
          return reject?.()
        }
        void ask(
          'present',
          'show you their terminal (read only: nothing you type reaches it; q stops watching)',
        ).then((allowed) => {
          const channel = allowed && !this.closed ? accept() : undefined
          if (!channel) return reject?.()
          const id = this.track('present', undefined, { stop: (message) => served.stop(message) })
          const served = servePresent(channel, stage, {
            technician: this.options.technician ?? 'your technician',
            refuse: (what) => this.options.broker.refuse(what),
            onStopped: () => {
              if (this.open.has(id)) this.options.onActivity({ event: 'stopped-watching', channel: id })
            },
            onClose: () => this.closeTracked(id),
          })
        })
        return
      }
      if (info.name === SYSINFO_SUBSYSTEM) {
        void ask(
          'sysinfo',
          // The computer's name and the user's account name go with it: said here, before they are.
          "read this computer's system information (its name, your user name, hardware, disks, network, processes)",
        ).then((allowed) => {
          const channel = allowed ? accept() : undefined
          if (!channel) return reject?.()
          void serveSysinfo(channel)
        })
        return
      }
      this.options.broker.refuse(`the SSH subsystem "${info.name}"`)
      reject?.()
    })
    session.on('x11', (_accept, reject) => {
      this.options.broker.refuse('X11 forwarding')
      reject?.()
    })
    session.on('auth-agent', (_accept, reject) => {
      this.options.broker.refuse('SSH agent forwarding')
      reject?.()
    })
  }

  /**
   * Streams the shared terminal to the technician. What they send is framed (share/frames.ts):
   * window sizes, and keys that reach the shell only while a control channel is open: checked
   * here, for every frame, so a key sent after the end user took control back goes nowhere.
   */
  private startView(channel: ServerChannel, share: SharedTerminal): void {
    const viewer: Viewer = {
      cols: 80,
      rows: 24,
      write: (data) => {
        if (!channel.destroyed) channel.write(data)
      },
    }
    const removeViewer = share.addViewer(viewer)
    const id = this.track('view', undefined, {
      stop: () => {
        removeViewer()
        channel.exit('HUP', false, REVOKED_MESSAGE)
        channel.close()
      },
    })
    const decoder = new ViewFrameDecoder()
    channel.on('data', (chunk: Buffer) => {
      let frames
      try {
        frames = decoder.feed(chunk)
      } catch (error) {
        this.options.broker.refuse(`a malformed frame on the view channel (${(error as Error).message})`)
        channel.close()
        return
      }
      for (const frame of frames) {
        if (frame.type === 'output') continue // never decoded here: a view channel takes keys and sizes
        if (frame.type === 'size') share.resizeViewer(viewer, frame)
        else if (this.controlling.size > 0) share.typeRemote(frame.keys)
        else if (!this.toldNoControl) {
          this.toldNoControl = true
          this.options.broker.refuse('typing in the shared terminal without control (the keys were dropped)')
        }
      }
    })
    channel.on('error', () => {})
    channel.on('close', () => {
      removeViewer()
      this.closeTracked(id)
    })
  }

  /** Reads one clipboard request, checks it, asks the end user (a push shown whole), and answers. */
  private serveClipboard(channel: ServerChannel, withdrawn: AbortSignal): void {
    let received = ''
    let done = false
    const answer = (reply: object) => {
      done = true
      if (channel.destroyed) return
      channel.write(`${JSON.stringify(reply)}\n`)
      channel.exit(0)
      channel.end()
    }
    const refuse = (what: string, why: string) => {
      this.options.broker.refuse(what)
      answer({ error: why, code: 'usage' })
    }
    channel.on('error', () => {})
    channel.on('data', (chunk: Buffer) => {
      if (done) return
      received += chunk.toString('utf8')
      const end = received.indexOf('\n')
      if (end < 0 && received.length <= MAX_CLIPBOARD_LINE) return
      if (end < 0)
        return refuse('clipboard text too long to show', 'the text is too long: at most 2000 characters')
      let request
      try {
        request = clipboardRequest.parse(JSON.parse(received.slice(0, end)))
        if (request.op === 'push') checkClipboardText(request.text)
      } catch (error) {
        const why =
          error instanceof Error && !(error instanceof SyntaxError) && !('issues' in error)
            ? error.message
            : 'a malformed clipboard request'
        return refuse(`a clipboard request: ${why}`, why)
      }
      done = true
      const push = request.op === 'push' ? request.text : undefined
      void this.options.broker
        .decide(
          'clipboard',
          push !== undefined ? 'put this text on your clipboard' : 'read the text on your clipboard',
          { ...(push !== undefined ? { detail: push } : {}), withdrawn },
        )
        .then(async (outcome) => {
          if (!outcome.allowed || this.closed) {
            this.tellRefusal(outcome)
            const refusal = refusalError({
              permission: outcome.permission,
              by: outcome.by,
              ...(outcome.seconds !== undefined ? { seconds: outcome.seconds } : {}),
            })
            return answer({ error: refusal.message, code: refusal.code })
          }
          try {
            if (push !== undefined) {
              await copyOnHost(push, process.stdout)
              answer({ ok: true })
            } else answer({ text: await pasteOnHost() })
          } catch (error) {
            answer({ error: (error as Error).message, code: 'failure' })
          }
        })
    })
  }

  /** Reads one address, checks it, asks the end user with it shown whole, opens it, and answers. */
  private serveUrl(channel: ServerChannel, withdrawn: AbortSignal): void {
    let received = ''
    let done = false
    const answer = (reply: object) => {
      done = true
      if (channel.destroyed) return
      channel.write(`${JSON.stringify(reply)}\n`)
      channel.exit(0)
      channel.end()
    }
    channel.on('error', () => {})
    channel.stderr.on('error', () => {})
    channel.on('data', (chunk: Buffer) => {
      if (done) return
      received += chunk.toString('utf8')
      const end = received.indexOf('\n')
      if (end < 0 && received.length <= MAX_URL_LENGTH * 4) return
      if (end < 0) {
        this.options.broker.refuse(
          `opening a web address too long to show (over ${MAX_URL_LENGTH} characters)`,
        )
        return answer({
          error: `the address is too long: at most ${MAX_URL_LENGTH} characters`,
          code: 'usage',
        })
      }
      const text = received.slice(0, end)
      let url: string
      try {
        url = checkUrl(text)
      } catch (error) {
        const why = (error as Error).message
        this.options.broker.refuse(`opening the web address ${text}: ${why}`)
        return answer({ error: why, code: 'usage' })
      }
      done = true
      void this.options.broker
        .decide('url', 'open this web address in your browser', { detail: url, withdrawn })
        .then(async (outcome) => {
          if (!outcome.allowed || this.closed) {
            this.tellRefusal(outcome)
            const refusal = refusalError({
              permission: outcome.permission,
              by: outcome.by,
              ...(outcome.seconds !== undefined ? { seconds: outcome.seconds } : {}),
            })
            return answer({ error: refusal.message, code: refusal.code })
          }
          try {
            await openWithSystem(url)
            answer({ opened: true })
          } catch (error) {
            answer({ error: `could not open it: ${(error as Error).message}`, code: 'failure' })
          }
        })
    })
  }

  /** Lets the technician's keys through while this channel is open; the end user closes it at will. */
  private startControl(channel: ServerChannel): void {
    const id = this.track('control', undefined, {
      stop: () => {
        this.controlling.delete(id)
        channel.exit('HUP', false, REVOKED_MESSAGE)
        channel.close()
      },
    })
    this.controlling.set(id, channel)
    this.toldNoControl = false
    channel.on('data', () => {})
    channel.on('error', () => {})
    channel.on('close', () => {
      this.controlling.delete(id)
      this.closeTracked(id)
    })
  }

  /** Takes control of the shared terminal back at once: closes every control channel; returns how many. */
  takeControlBack(): number {
    const channels = [...this.controlling]
    // Before anything else: a key frame that arrives from now on is dropped.
    this.controlling.clear()
    for (const [id, channel] of channels) {
      if (!this.open.delete(id)) continue
      try {
        channel.exit('HUP', false, CONTROL_TAKEN_BACK)
        channel.close()
      } catch {
        // The SSH stream is already gone.
      }
      this.options.onActivity({ event: 'channel-close', channel: id, kind: 'control', signal: 'SIGHUP' })
    }
    return channels.length
  }

  private closeTracked(id: number): void {
    const open = this.open.get(id)
    if (!open || !this.open.delete(id)) return
    this.options.onActivity({ event: 'channel-close', channel: id, kind: open.kind })
  }

  private finishSftp(id: number): void {
    if (!this.open.delete(id)) return
    this.options.onActivity({ event: 'channel-close', channel: id, kind: 'sftp' })
  }

  private chat(channel: ServerChannel): void {
    const link = serveChat(
      channel,
      {
        self: 'host',
        onMessage: (message) => {
          this.remember(message)
          this.options.onActivity({ event: 'chat', ...message })
        },
        onClose: () => this.chats.delete(link),
      },
      this.chatHistory,
    )
    this.chats.add(link)
  }

  /** Sends the end user's chat line to every chat the technician has open; returns what was sent. */
  sendChat(text: string): ChatMessage | undefined {
    let sent: ChatMessage | undefined
    for (const link of this.chats) if (!link.isClosed) sent = link.send(text)
    if (sent) this.remember(sent)
    return sent
  }

  private remember(message: ChatMessage): void {
    this.chatHistory.push(message)
    if (this.chatHistory.length > MAX_CHAT_HISTORY) this.chatHistory.shift()
  }

  /** Asks for a channel request (shell, exec, sysinfo); when refused, the technician is told why first. */
  private async decideChannel(
    permission: Permission,
    summary: string,
    options: RequestOptions,
  ): Promise<boolean> {
    if (this.closed) return false
    const outcome = await this.options.broker.decide(permission, summary, options)
    if (!outcome.allowed) this.tellRefusal(outcome)
    return outcome.allowed && !this.closed
  }

  /**
   * Writes the typed reason on every refusals channel. SSH keeps order on a connection, so it
   * reaches the technician before the request's failure, which carries no reason of its own.
   */
  private tellRefusal(outcome: ConsentOutcome): void {
    const refusal: Refusal = {
      permission: outcome.permission,
      by: outcome.by,
      ...(outcome.seconds !== undefined ? { seconds: outcome.seconds } : {}),
    }
    for (const link of this.refusalLinks) if (!link.destroyed) link.write(`${JSON.stringify(refusal)}\n`)
  }

  private async startShell(
    channel: ServerChannel,
    request: PtyRequest,
    command?: string,
    locale: Record<string, string> = {},
  ): Promise<(cols: number, rows: number) => void> {
    const nodePty = await import('@lydell/node-pty')
    const shell = loginShell()
    const terminal = nodePty.spawn(shell, command === undefined ? ['-l'] : ['-c', command], {
      name: request.term,
      cols: request.cols,
      rows: request.rows,
      cwd: os.homedir(),
      env: { ...technicianEnvironment({ term: request.term }), ...locale },
      encoding: null,
    })
    const kind = command === undefined ? 'shell' : 'exec'
    const id = this.track(kind, command, {
      stop: (message = REVOKED_MESSAGE) => {
        // The shell leads its own session: hang up its whole process group, not just the shell.
        hangUpGroup(terminal.pid)
        terminal.kill('SIGHUP')
        this.recordings.finish(channel)
        channel.exit('HUP', false, message)
        channel.close()
      },
    })
    const hashes = this.recordings.track(channel, kind)
    terminal.onData((data) => {
      hashes.o.push(data as unknown as Buffer)
      if (!channel.write(data) && !channel.destroyed) {
        terminal.pause()
        channel.once('drain', () => terminal.resume())
      }
    })
    channel.on('data', (data: Buffer) => {
      hashes.i.push(data)
      terminal.write(data as unknown as string)
    })
    terminal.onExit(({ exitCode, signal }) => {
      // node-pty may report the exit before the last output has been read: let it arrive first.
      setTimeout(() => {
        this.finish(id, channel, exitCode, signal ? signalName(signal) : undefined)
      }, 50)
    })
    channel.on('close', () => {
      if (this.open.has(id)) hangUpGroup(terminal.pid)
    })
    return (cols, rows) => {
      if (this.open.has(id)) terminal.resize(Math.max(cols, 1), Math.max(rows, 1))
    }
  }

  /** A command (exec), or a shell without a terminal, with stdout and stderr kept apart. */
  private startCommand(
    channel: ServerChannel,
    kind: ChannelKind,
    command?: string,
    locale: Record<string, string> = {},
  ): void {
    const args = command === undefined ? ['-l'] : ['-c', command]
    const child: ChildProcess = spawn(loginShell(), args, {
      cwd: os.homedir(),
      // No TERM: without a pty request there is no terminal, as with OpenSSH's exec and ssh -T.
      env: { ...technicianEnvironment(), ...locale },
      stdio: 'pipe',
      // Its own process group, so revoking stops everything the command started, not only the shell.
      detached: true,
    })
    const id = this.track(kind, command, {
      stop: (message = REVOKED_MESSAGE) => {
        hangUpGroup(child.pid)
        this.recordings.finish(channel)
        channel.exit('HUP', false, message)
        channel.close()
      },
    })
    const hashes = this.recordings.track(channel, kind === 'exec' ? 'exec' : 'shell')
    // Hashed as they are handed to the channel, stream by stream, for the signed checkpoints.
    child.stdout!.on('data', (data: Buffer) => hashes.o.push(data))
    child.stderr!.on('data', (data: Buffer) => hashes.e.push(data))
    channel.on('data', (data: Buffer) => hashes.i.push(data))
    child.stdout!.pipe(channel, { end: false })
    child.stderr!.pipe(channel.stderr, { end: false })
    channel.pipe(child.stdin!)
    child.stdin!.on('error', () => {})
    child.on('error', (error) => {
      const text = `rescue: could not run the command: ${error.message}\n`
      hashes.e.push(Buffer.from(text))
      channel.stderr.write(text)
      this.finish(id, channel, 127)
    })
    child.on('close', (code, signal) => this.finish(id, channel, code ?? undefined, signal ?? undefined))
    channel.on('close', () => {
      if (this.open.has(id)) hangUpGroup(child.pid)
    })
  }

  private track(kind: ChannelKind, command: string | undefined, control: Omit<OpenChannel, 'kind'>): number {
    const id = ++this.channelCount
    this.open.set(id, { kind, ...control })
    this.options.onActivity({
      event: 'channel-open',
      channel: id,
      kind,
      ...(command !== undefined ? { command: sanitizeForTerminal(command, 500) } : {}),
    })
    return id
  }

  private finish(id: number, channel: ServerChannel, exitCode?: number, signal?: string): void {
    const open = this.open.get(id)
    if (!open) return
    this.open.delete(id)
    // The last checkpoint goes before the exit status: the technician holds it when the channel closes.
    this.recordings.finish(channel)
    if (!channel.destroyed) {
      if (signal) channel.exit(signal.replace(/^SIG/, ''), false, '')
      else channel.exit(exitCode ?? 0)
      channel.end()
    }
    this.options.onActivity({
      event: 'channel-close',
      channel: id,
      kind: open.kind,
      ...(exitCode !== undefined && !signal ? { exitCode } : {}),
      ...(signal ? { signal } : {}),
    })
  }
}

/** The variables a technician's client may set (SendEnv, SetEnv): sshd's default `AcceptEnv LANG LC_*`. */
const ACCEPTED_ENV = /^(LANG|LC_[A-Z_]+)$/

/** SIGHUP to a process group, then SIGKILL to whatever ignored it. */
function hangUpGroup(pid: number | undefined): void {
  if (!pid) return
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal)
    } catch {
      // Already gone.
    }
  }
  signalGroup('SIGHUP')
  setTimeout(() => signalGroup('SIGKILL'), 2000).unref()
}

/** A prompt shows the whole command line or the command is refused: nobody allows what they cannot see. */
function fitsInPrompt(command: string): boolean {
  return [...sanitizeForTerminal(command, Number.MAX_SAFE_INTEGER)].length <= MAX_DETAIL_LENGTH
}

function loginShell(): string {
  return process.env.SHELL || os.userInfo().shell || '/bin/sh'
}

function signalName(signal: number): string {
  const entry = Object.entries(os.constants.signals).find(([, value]) => value === signal)
  return entry?.[0] ?? `SIG${signal}`
}
