import { BaseCommand } from '../../cli/base-command.js'
import { loadLogin } from '../../core/credentials/index.js'
import {
  ensureDeviceKey,
  loadCertificate,
  signCommandFor,
  type InstalledCertificate,
} from '../../core/trust/index.js'

export default class Device extends BaseCommand {
  static override summary = "Show this machine's device key and its certificate"
  static override description = `Your device key is made on this machine (at rescue login, or here) and kept in the OS keychain, or in a file only you can read; it never leaves it. Hosts that trust your organisation's key (rescue host --trust) let you in only when an admin has certified it: pass them the command printed here, then install what it prints with rescue device install-cert.`

  static override examples = ['<%= config.bin %> device', '<%= config.bin %> device --json']

  async run(): Promise<{
    publicKey: string
    fingerprint: string
    keyStore: string
    signCommand: string
    certificate?: InstalledCertificate
  }> {
    await this.parse(Device)
    const email = loadLogin()?.email
    const device = ensureDeviceKey(email)
    const certificate = loadCertificate()
    const signCommand = signCommandFor(device, email)
    this.log(`device key ${device.fingerprint}${device.created ? ' (new)' : ''}:`)
    this.log(device.line)
    if (certificate) {
      this.log(
        `certified for ${certificate.email} by ${certificate.organisation} (${certificate.caFingerprint}) until ${certificate.validUntil}${certificate.expired ? ': EXPIRED' : ''}`,
      )
    }
    if (!certificate || certificate.expired) {
      this.log('to be let in by hosts that trust your organisation, ask an admin to run:')
      this.log(`  ${signCommand}`)
    }
    return {
      publicKey: device.line,
      fingerprint: device.fingerprint,
      keyStore: device.store,
      signCommand,
      ...(certificate ? { certificate } : {}),
    }
  }
}
