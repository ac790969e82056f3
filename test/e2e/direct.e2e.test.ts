/**
 * The direct link with the built CLI: `rescue host --direct` offers it, `rescue connect` takes it,
 * and `rescue send` then goes over it, whole, as both sides' `--json` says.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CliWorld, jsonLines } from './cli.js'

const ADMIN = {
  email: 'dee@acme.example',
  password: 'a long and winding passphrase',
  name: 'Dee Rect',
  organisation: 'Acme IT',
}
const MiB = 1024 * 1024

let world: CliWorld
let url: string
let runtime: string

beforeAll(async () => {
  world = new CliWorld()
  url = await world.startLoggedIn(ADMIN)
  runtime = world.dir('runtime')
  fs.chmodSync(runtime, 0o700)
})
afterEach(() => world.stopTracked())
afterAll(() => world?.dispose())

const sha256Of = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex')

describe('rescue host --direct', () => {
  it('moves the session onto a direct link, and rescue send goes over it whole', async () => {
    const { host, technician, home, auditLog } = await world.liveSession(
      url,
      runtime,
      '--auto-approve',
      'files.send',
      '--direct',
    )
    const [hostDirect, technicianDirect] = await Promise.all([
      host.waitForEvent('link-direct'),
      technician.waitForEvent('link-direct'),
    ])
    expect(hostDirect).toMatchObject({ role: 'host', peer: expect.any(String) })
    expect(technicianDirect).toMatchObject({ role: 'technician', peer: expect.any(String) })

    const local = path.join(world.dir('local'), 'big.bin')
    fs.writeFileSync(local, randomBytes(32 * MiB))
    const sent = await world.run(['send', '--json', local, 'big.bin'], {
      env: { XDG_RUNTIME_DIR: runtime },
      timeoutMs: 120_000,
    })
    expect(sent.exitCode, sent.stderr).toBe(0)
    expect(JSON.parse(sent.stdout)).toMatchObject({ bytes: 32 * MiB, sha256: sha256Of(local) })
    expect(sha256Of(path.join(home, 'big.bin'))).toBe(sha256Of(local))

    // Still direct: neither side fell back to the relay during the transfer.
    expect(host.events.map((line) => line.event)).not.toContain('link-relay')
    expect(technician.events.map((line) => line.event)).not.toContain('link-relay')
    const logged = jsonLines(fs.readFileSync(auditLog, 'utf8')).map((entry) => entry.event)
    expect(logged).toContain('link-direct')
  })
})
