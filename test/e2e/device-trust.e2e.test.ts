/**
 * Unattended hosts through the built CLI (issue 14, item 3): the organisation's CA made offline,
 * the technician's device key made at login and certified, and a host started with --trust and
 * --auto-approve that runs the certified technician's command and refuses an uncertified one.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, onlyJson, type JsonLine } from './cli.js'

const ADMIN = {
  email: 'dana@acme.example',
  password: 'a long and winding passphrase',
  name: 'Dana Park',
  organisation: 'Acme IT',
}

let world: CliWorld
let url: string
let login: JsonLine
let caFile: string
let caKey: string

beforeAll(async () => {
  world = new CliWorld()
  const gateway = await world.startServer()
  url = gateway.url
  await world.initAdmin(gateway.dataDir, ADMIN)
  login = (await world.login(url, ADMIN)).json
  caFile = path.join(world.dir('offline'), 'acme-ca.key')
})
afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

const mode = (file: string) => fs.statSync(file).mode & 0o777

/** An unattended host (no terminal, --json) with a home of its own, waiting on a fresh PIN. */
async function unattendedHost(...flags: string[]) {
  const { pin } = await world.newPin()
  const home = world.dir('home')
  const auditLog = path.join(world.dir('state'), 'audit.jsonl')
  const host = world.track(
    world.spawn('host', ['host', '--server', url, '--pin', pin, '--json', ...flags], {
      env: { HOME: home, SHELL: '/bin/sh', RESCUE_AUDIT_LOG: auditLog },
    }),
  )
  await host.waitForEvent('waiting')
  return { pin, host, home, auditLog }
}

describe('an organisation key, a certified device, and a host that trusts it', () => {
  it('admin ca init writes the private key 0600 (never twice) and prints the public key', async () => {
    const made = onlyJson(
      world.check(
        await world.run(['admin', 'ca', 'init', '--out', caFile, '--organisation', 'Acme IT', '--json']),
      ),
    )
    caKey = made.publicKey as string
    expect(caKey).toMatch(/^rescue-ca-ed25519 [A-Za-z0-9+/]{43}= Acme IT$/)
    expect(made.fingerprint).toMatch(/^SHA256:/)
    expect(mode(caFile)).toBe(0o600)
    expect(fs.readFileSync(caFile, 'utf8')).not.toContain(caKey.split(' ')[1])
    const again = await world.run(['admin', 'ca', 'init', '--out', caFile, '--organisation', 'Acme IT'])
    expect(again.exitCode).toBe(ExitCode.conflict)
    expect(again.stderr).toContain('rescue never overwrites a CA key')
  })

  it('login made a device key on this machine, kept 0600 (no keychain here), and says how to certify it', async () => {
    const device = login.device as { publicKey: string; certified: boolean; signCommand: string }
    expect(device.publicKey).toMatch(/^rescue-device-ed25519 \S+ dana@acme.example$/)
    expect(device.certified).toBe(false)
    expect(device.signCommand).toContain(`rescue admin ca sign --ca CA_FILE --email ${ADMIN.email} --key`)
    expect(mode(path.join(world.configDir, 'secrets.json'))).toBe(0o600)
    const shown = onlyJson(await world.run(['device', '--json']))
    expect(shown.publicKey).toBe(device.publicKey)
  })

  it('admin ca sign certifies it, device install-cert keeps it 0600, and refuses a certificate for another key', async () => {
    const device = onlyJson(await world.run(['device', '--json']))
    const signed = world.check(
      await world.run([
        'admin',
        'ca',
        'sign',
        '--ca',
        caFile,
        '--email',
        ADMIN.email,
        '--key',
        device.publicKey as string,
        '--ttl',
        '30d',
      ]),
    )
    expect(signed.stdout.trim()).toMatch(/^rescue-cert-v1 \S+ dana@acme.example$/)
    const certFile = path.join(world.dir('mail'), 'dana.cert')
    fs.writeFileSync(certFile, signed.stdout)
    const installed = onlyJson(world.check(await world.run(['device', 'install-cert', certFile, '--json'])))
    expect(installed).toMatchObject({ email: ADMIN.email, organisation: 'Acme IT', expired: false })
    expect(mode(path.join(world.configDir, 'device-cert'))).toBe(0o600)

    const otherKey = 'rescue-device-ed25519 ' + Buffer.alloc(32, 1).toString('base64')
    const other = world.check(
      await world.run(['admin', 'ca', 'sign', '--ca', caFile, '--email', ADMIN.email, '--key', otherKey]),
    )
    const refused = await world.run(['device', 'install-cert', '-'], { input: other.stdout })
    expect(refused.exitCode).toBe(ExitCode.usage)
    expect(refused.stderr).toContain("not this machine's")
  })

  it("host --trust KEY --auto-approve exec runs the certified technician's command and shows who, checked by signature", async () => {
    const { pin, host, home } = await unattendedHost('--trust', caKey, '--auto-approve', 'exec')
    const technician = world.track(
      world.spawn('connect', ['connect', '--pin', pin, '--exec', 'touch ran; id -un']),
    )
    expect(await technician.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
    expect(technician.stdout.trim()).toMatch(/\S+/)
    expect(fs.existsSync(path.join(home, 'ran'))).toBe(true)
    const paired = await host.waitForEvent('paired')
    expect(paired).toMatchObject({
      technician: { email: ADMIN.email },
      verified: {
        email: ADMIN.email,
        organisation: 'Acme IT',
        caFingerprint: expect.stringMatching(/^SHA256:/),
      },
    })
    expect(await host.waitForExit()).toEqual({ exitCode: ExitCode.ok, signal: undefined })
  })

  it('the same key from --trust-file, and the human lines say "verified by your organisation\'s key"', async () => {
    const trustFile = path.join(world.dir('etc'), 'trusted-ca.pub')
    fs.writeFileSync(trustFile, `# Acme IT\n${caKey}\n`)
    const { pin } = await world.newPin()
    const host = world.track(
      world.spawn(
        'host',
        ['host', '--server', url, '--pin', pin, '--trust-file', trustFile, '--auto-approve', 'exec'],
        {
          env: {
            HOME: world.dir('home'),
            SHELL: '/bin/sh',
            RESCUE_AUDIT_LOG: path.join(world.dir('state'), 'a.jsonl'),
          },
        },
      ),
    )
    await host.waitForLine('waiting', (line) => line.includes('waiting for your technician'))
    const technician = world.track(world.spawn('connect', ['connect', '--pin', pin, '--exec', 'true']))
    expect(await technician.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
    const line = await host.waitForLine('the verified line', (text) => text.includes('verified by'))
    expect(line).toMatch(/^dana@acme\.example — verified by your organisation's key SHA256:\S+$/)
  })

  it("on the end user's terminal, the live view shows the technician as verified by the organisation's key", async () => {
    const { pin } = await world.newPin()
    const host = world.track(
      await world.spawnPty('host', ['host', '--server', url, '--pin', pin, '--trust', caKey], {
        cols: 100,
        rows: 30,
        env: { HOME: world.dir('home'), SHELL: '/bin/sh', XDG_STATE_HOME: world.dir('state') },
      }),
    )
    await host.waitFor('waiting for your technician')
    world.track(world.spawn('connect', ['connect', '--pin', pin, '--no-shell', '--json']))
    await host.waitFor(/✓ dana@acme\.example — verified by your organisation's key SHA256:\S{12}…/)
    expect(host.output).not.toContain('as vouched for by the gateway')
  })

  it('refuses a technician whose device is not certified: exit 18 on both sides, the reason said, nothing run', async () => {
    // The same account on another machine: logged in (its config copied) but with no certificate.
    const laptop = world.dir('laptop-config')
    fs.mkdirSync(path.join(laptop, 'rescue'), { mode: 0o700 })
    for (const file of ['config.json', 'tokens.json']) {
      fs.copyFileSync(path.join(world.configDir, file), path.join(laptop, 'rescue', file))
    }
    const { pin, host, home, auditLog } = await unattendedHost('--trust', caKey, '--auto-approve', 'exec')
    const technician = world.track(
      world.spawn('connect', ['connect', '--pin', pin, '--exec', 'touch ran; id'], {
        env: { XDG_CONFIG_HOME: laptop },
      }),
    )
    expect(await technician.waitForExit()).toEqual({ exitCode: ExitCode.untrusted, signal: undefined })
    expect(technician.stderr).toContain("the end user's computer refused you")
    expect(technician.stderr).toContain('no certificate from your organisation')
    expect(await host.waitForExit()).toEqual({ exitCode: ExitCode.untrusted, signal: undefined })
    const ended = host.events.find((event) => event.event === 'ended')
    expect(ended).toMatchObject({ by: 'host', code: 'untrusted' })
    expect(ended?.reason).toContain('refused the technician (dana@acme.example, as the gateway vouches)')
    expect(host.events.some((event) => event.event === 'paired')).toBe(false)
    expect(fs.existsSync(path.join(home, 'ran'))).toBe(false)
    const log = onlyJson(await world.run(['log', '--json'], { env: { RESCUE_AUDIT_LOG: auditLog } }))
    expect(log.entries).toEqual([expect.objectContaining({ event: 'session-end', code: 'untrusted' })])
  })
})

describe('--auto-approve without a key to trust', () => {
  it('refuses to start, naming --trust, --trust-file and --trust-gateway (usage error, exit 2)', async () => {
    const { pin } = await world.newPin()
    const result = await world.run(['host', '--server', url, '--pin', pin, '--auto-approve', 'exec'])
    expect(result.exitCode).toBe(ExitCode.usage)
    expect(result.stderr).toContain('--auto-approve needs --trust KEY or --trust-file FILE')
    expect(result.stderr).toContain('--trust-gateway')
    expect(result.stdout).not.toContain('waiting')
  })

  it('with --trust-gateway it starts, warns on screen and writes the warning to the audit log', async () => {
    const { pin, host, auditLog } = await unattendedHost('--auto-approve', 'exec', '--trust-gateway')
    expect(host.stderr).toContain('Warning: --trust-gateway: exec will be allowed without asking')
    expect(await host.waitForEvent('trust-gateway')).toEqual({
      event: 'trust-gateway',
      permissions: ['exec'],
    })
    const technician = world.track(world.spawn('connect', ['connect', '--pin', pin, '--exec', 'true']))
    expect(await technician.waitForExit()).toEqual({ exitCode: 0, signal: undefined })
    const paired = await host.waitForEvent('paired')
    expect(paired.verified).toBeUndefined()
    await host.waitForExit()
    const log = onlyJson(await world.run(['log', '--json'], { env: { RESCUE_AUDIT_LOG: auditLog } }))
    expect((log.entries as JsonLine[]).map((entry) => entry.event)).toContain('trust-gateway')
    const lines = await world.run(['log'], { env: { RESCUE_AUDIT_LOG: auditLog } })
    expect(lines.stdout).toContain('warning: --trust-gateway')
  })
})
