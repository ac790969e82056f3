import { Args, Flags } from '@oclif/core'
import { parseDuration } from '../cli/duration.js'
import { directFlag, directMode } from '../cli/direct-flag.js'
import { resumeGraceFlag } from '../cli/resume-flags.js'
import { BaseCommand } from '../cli/base-command.js'
import { runConnect, type ConnectMode } from '../cli/run-connect.js'
import { requireLogin } from '../core/credentials/index.js'
import { UserError } from '../core/errors.js'
import { checkPinForm } from '../core/pin-form.js'

export default class Connect extends BaseCommand {
  static override summary =
    'Connect to the end user who joined with your PIN, or take a session from your queue'
  static override description = `With --pin, waits for the end user if they have not joined yet (until the PIN expires); with a SESSION id from rescue queue, takes that waiting session (if another technician takes it first, you are told so). Then pairs end to end. Read the security words to the end user by phone: if theirs differ, end the session.

On a terminal it then asks the end user for a shell and behaves like ssh: the remote shell's exit status is rescue's, "~." after Enter leaves and "~?" lists the escapes. --exec runs one command instead, with its stdout and stderr kept apart. Either way the end user must allow it first; a refusal says who refused and why, and exits with status 15 (the end user said no, did not answer, or has no terminal) or 17 (your group's policy). On a terminal, a shell the end user denies or revokes closes only the shell: you stay connected, Enter asks again and q leaves. Without a terminal, and with --no-shell, it only holds the session open until Ctrl-C.

With --exec or a shell, stdout and stderr carry the remote side's output and rescue's own messages (and --json events) go to stderr.`

  static override examples = [
    '<%= config.bin %> connect --pin 123456',
    `<%= config.bin %> connect --pin 123456 --exec 'uname -a'`,
    '<%= config.bin %> connect --pin 123456 --no-shell --json',
    '<%= config.bin %> connect --pin 123456 --listen 2222',
    '<%= config.bin %> connect --pin 123456 --record ~/recordings',
    '<%= config.bin %> connect k5nvmh3wq2x7tb4c9d0e1f2g3h',
  ]

  static override args = {
    session: Args.string({ description: 'a waiting session from rescue queue, to take' }),
  }

  static override flags = {
    pin: Flags.string({ description: 'the PIN from rescue pin', env: 'RESCUE_PIN' }),
    server: Flags.string({
      description: 'the gateway [default: the one you logged in to]',
      env: 'RESCUE_SERVER',
    }),
    exec: Flags.string({
      description: 'run this command on the end user’s computer (no PTY), then end the session',
      exclusive: ['shell'],
    }),
    listen: Flags.integer({
      description:
        'serve the session to ssh, scp, sftp and rsync on 127.0.0.1:PORT (0 picks one) and print their command lines',
      min: 0,
      max: 65535,
      exclusive: ['exec', 'shell'],
    }),
    shell: Flags.boolean({
      description: 'ask for a shell [default: when stdin is a terminal]',
      allowNo: true,
    }),
    watch: Flags.boolean({
      description:
        "watch the end user's shared terminal (they run rescue host --share and allow it), read only; Ctrl-] then c asks to type, Ctrl-] then q stops",
      exclusive: ['exec', 'listen', 'shell'],
    }),
    'resume-grace': resumeGraceFlag,
    direct: directFlag,
    record: Flags.directory({
      description:
        'keep a recording (asciicast, for rescue recordings play and asciinema) of each shell and command in DIR (needs the permission record)',
      exclusive: ['listen'],
      env: 'RESCUE_RECORD',
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Connect)
    if ((args.session === undefined) === (flags.pin === undefined)) {
      throw new UserError(
        'usage',
        'give either --pin PIN or a SESSION id from rescue queue',
        'rescue connect --pin 123456',
      )
    }
    const { server, token } = requireLogin(flags.server)
    const wantsShell = flags.shell ?? (process.stdin.isTTY === true && !this.jsonEnabled())
    const mode: ConnectMode = flags.watch
      ? { kind: 'watch' }
      : flags.listen !== undefined
        ? { kind: 'listen', port: flags.listen }
        : flags.exec !== undefined
          ? { kind: 'exec', command: flags.exec }
          : wantsShell
            ? { kind: 'shell' }
            : { kind: 'hold' }
    const entry =
      flags.pin !== undefined
        ? { pin: checkPinForm(flags.pin, 'technician') }
        : { sessionId: args.session!.trim().toLowerCase() }
    await runConnect({
      server,
      token,
      entry,
      json: this.jsonEnabled(),
      mode,
      resumeGraceMs: parseDuration(flags['resume-grace']),
      direct: directMode(flags.direct),
      ...(flags.record !== undefined ? { recordDir: flags.record } : {}),
    })
  }
}
