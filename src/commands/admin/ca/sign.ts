import { Flags } from '@oclif/core'
import { BaseCommand } from '../../../cli/base-command.js'
import { parseDuration } from '../../../cli/duration.js'
import { signDeviceCertificate, type SignedCertificate } from '../../../core/trust/index.js'

export default class AdminCaSign extends BaseCommand {
  static override summary = "Certify a technician's device key with your organisation's signing key"
  static override description = `Prints a certificate binding the technician's email, their device key (rescue device shows it on their machine), your organisation and a validity window, signed by the key in --ca. The technician installs it with rescue device install-cert; hosts started with --trust then let them in. Nothing is sent anywhere: run it where the CA key is kept.`

  static override examples = [
    "<%= config.bin %> admin ca sign --ca ~/acme-ca.key --email alice@acme.example --key 'rescue-device-ed25519 AAAA...' > alice.cert",
    "<%= config.bin %> admin ca sign --ca ~/acme-ca.key --email ci@acme.example --key 'rescue-device-ed25519 AAAA...' --ttl 30d --json",
  ]

  static override flags = {
    ca: Flags.file({
      description: 'the CA key file rescue admin ca init wrote',
      required: true,
      exists: true,
    }),
    email: Flags.string({
      description: "the technician's email (their login on the gateway)",
      required: true,
    }),
    key: Flags.string({
      description: "the technician's device key (rescue-device-ed25519 ...)",
      required: true,
    }),
    ttl: Flags.string({ description: 'how long the certificate is valid: 12h, 90d', default: '90d' }),
  }

  async run(): Promise<SignedCertificate> {
    const { flags } = await this.parse(AdminCaSign)
    const signed = signDeviceCertificate({
      caFile: flags.ca,
      email: flags.email,
      deviceKey: flags.key,
      ttlMs: parseDuration(flags.ttl),
    })
    this.logToStderr(
      `certified ${signed.email} (${signed.organisation}), device ${signed.deviceFingerprint}, until ${signed.validUntil}; they install it with rescue device install-cert:`,
    )
    this.log(signed.certificate)
    return signed
  }
}
