import fs from 'node:fs'
import { Args } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { UserError } from '../../core/errors.js'
import { installCertificate, type InstalledCertificate } from '../../core/trust/index.js'

export default class DeviceInstallCert extends BaseCommand {
  static override summary = "Install the certificate an admin made for this machine's device key"
  static override description =
    'Reads the certificate (the line rescue admin ca sign printed) from FILE, or from stdin with -, checks it is for this device key and still valid, and keeps it in your config folder, readable only by you. rescue connect then presents it to hosts that trust your organisation.'

  static override examples = [
    '<%= config.bin %> device install-cert alice.cert',
    "printf '%s\\n' 'rescue-cert-v1 AAAA...' | <%= config.bin %> device install-cert -",
  ]

  static override args = {
    file: Args.string({ description: 'the certificate file, or - for stdin', required: true }),
  }

  async run(): Promise<InstalledCertificate> {
    const { args } = await this.parse(DeviceInstallCert)
    let text: string
    try {
      // 64 KiB is far more than a certificate: anything bigger is not one.
      text = fs.readFileSync(args.file === '-' ? 0 : args.file, 'utf8').slice(0, 65_536)
    } catch (error) {
      throw new UserError(
        'usage',
        `cannot read ${args.file === '-' ? 'stdin' : args.file}: ${(error as Error).message}`,
        'give the certificate file, or - and the certificate on stdin',
      )
    }
    const installed = installCertificate(text)
    this.log(
      `installed: ${installed.email} of ${installed.organisation}, certified by ${installed.caFingerprint} until ${installed.validUntil}`,
    )
    return installed
  }
}
