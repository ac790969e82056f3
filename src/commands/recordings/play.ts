import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { UserError } from '../../core/errors.js'
import { playRecording } from '../../core/recordings/index.js'

export default class RecordingsPlay extends BaseCommand {
  static override summary = 'Play a recording in this terminal, at its real speed'
  static override examples = [
    '<%= config.bin %> recordings play session.cast',
    '<%= config.bin %> recordings play session.cast --speed 4 --idle-limit 1',
  ]
  static override args = { file: Args.string({ description: 'the .cast file', required: true }) }
  static override flags = {
    speed: Flags.string({ description: 'play this many times faster', default: '1' }),
    'idle-limit': Flags.string({ description: 'shorten every pause to at most this many seconds' }),
  }

  async run(): Promise<{ events: number; seconds: number }> {
    const { args, flags } = await this.parse(RecordingsPlay)
    const number = (text: string, flag: string) => {
      const value = Number(text)
      if (!Number.isFinite(value) || value <= 0)
        throw new UserError('usage', `--${flag} must be a positive number`)
      return value
    }
    const speed = number(flags.speed, 'speed')
    const idleLimit =
      flags['idle-limit'] === undefined ? undefined : number(flags['idle-limit'], 'idle-limit')
    const stop = new AbortController()
    const onInterrupt = () => stop.abort()
    process.once('SIGINT', onInterrupt)
    try {
      return await playRecording(args.file, {
        speed,
        ...(idleLimit !== undefined ? { idleLimit } : {}),
        signal: stop.signal,
        // Under --json, stdout carries only the result.
        write: (text) => {
          if (!this.jsonEnabled()) process.stdout.write(text)
        },
      })
    } finally {
      process.off('SIGINT', onInterrupt)
    }
  }
}
