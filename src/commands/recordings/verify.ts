import { Args } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { verifyRecordingFile, type VerifyResult } from '../../core/recordings/index.js'

export default class RecordingsVerify extends BaseCommand {
  static override summary =
    'Check that a recording is exactly what the host sent, nothing cut, changed or added'
  static override description =
    "The host signs a running SHA-256 of each channel's output (and input) with its SSH key of the session; the recording carries those checkpoints. A changed byte, a removed or added event, or a cut end fails (exit 1). Compare the host key's fingerprint with the end user's audit log to tie the recording to their computer."
  static override examples = ['<%= config.bin %> recordings verify session.cast']
  static override args = { file: Args.string({ description: 'the .cast file', required: true }) }

  async run(): Promise<VerifyResult> {
    const { args } = await this.parse(RecordingsVerify)
    const result = verifyRecordingFile(args.file)
    this.log(
      `${args.file}: matches what the host sent (${result.checkpoints} signed checkpoints, ${result.bytes?.o ?? 0} bytes of output, host key ${result.hostKeyFingerprint})`,
    )
    return result
  }
}
