import { Flags } from '@oclif/core'
import { BaseCommand } from '../../../cli/base-command.js'
import { initCa, type CaPublic } from '../../../core/trust/index.js'

export default class AdminCaInit extends BaseCommand {
  static override summary = "Make your organisation's signing key (a certificate authority), kept offline"
  static override description = `Writes a new ed25519 signing key to --out (readable only by you; an existing file is never overwritten) and prints its public key. Keep the file offline, like an OpenSSH CA key: never on the gateway. Certify each technician's device with rescue admin ca sign, and give the public key to unattended hosts: rescue host --trust KEY (or --trust-file, or RESCUE_TRUST) lets in only technicians it certified.`

  static override examples = [
    '<%= config.bin %> admin ca init --out ~/acme-ca.key --organisation "Acme IT"',
    '<%= config.bin %> admin ca init --out /media/usb/acme-ca.key --organisation "Acme IT" --json',
  ]

  static override flags = {
    out: Flags.string({
      description: 'the file to write the private key to (it must not exist)',
      required: true,
    }),
    organisation: Flags.string({
      description: 'the organisation the key speaks for, as hosts will see it',
      required: true,
    }),
  }

  async run(): Promise<CaPublic & { file: string }> {
    const { flags } = await this.parse(AdminCaInit)
    const ca = initCa(flags.out, flags.organisation)
    this.logToStderr(
      `wrote the private key of ${ca.organisation} to ${ca.file} (keep it offline; never on the gateway)`,
    )
    this.logToStderr(`fingerprint ${ca.fingerprint}; the public key, for rescue host --trust:`)
    this.log(ca.publicKey)
    return ca
  }
}
