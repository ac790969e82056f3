/**
 * `file-stream@rescue` (src/core/transfer/stream.ts) through a real gateway, a real host and ssh2:
 * `send` and `get` move a file's bytes on it instead of SFTP WRITEs and READs, with the same
 * consent, partial file, hashes and audit lines; a host that refuses it still gets SFTP; and bad
 * input on it (a truncated stream, a wrong offset, a handle no allowed OPEN gave, too many bytes)
 * gets a clear error and leaves nothing under the final name.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ssh2, { type ClientChannel, type SFTPWrapper } from 'ssh2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readAuditLog } from '../src/core/audit/index.js'
import type { Permission } from '../src/core/consent/index.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import { startTechnician } from '../src/core/technician/index.js'
import { Transfers } from '../src/core/transfer/copy.js'
import { TRANSFER_SUBSYSTEM } from '../src/core/transfer/protocol.js'
import { FILE_STREAM_SUBSYSTEM } from '../src/core/transfer/stream.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

const { OPEN_MODE } = ssh2.utils.sftp
const MiB = 1024 * 1024

let gw: TestGateway
let dir: string
const teardowns: (() => Promise<void>)[] = []

beforeEach(async () => {
  // Real paths: the host names files with their links resolved (macOS's /var is one).
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-file-stream-')))
  gw = await startTestGateway()
})
afterEach(async () => {
  for (const teardown of teardowns.splice(0)) await teardown().catch(() => {})
  await gw.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

/** A host that allows only `autoApprove` (nobody at its terminal: anything else is denied). */
async function pair(autoApprove: Permission[]) {
  const pin = await gw.newPin()
  const events: HostEvent[] = []
  const auditFile = path.join(dir, 'audit', 'audit.jsonl')
  const host = await startHost({
    server: gw.url,
    entry: { pin },
    interactive: false,
    confirmWords: false,
    trustGateway: true,
    autoApprove,
    consentTimeoutMs: 5000,
    auditFile,
    onEvent: (event) => events.push(event),
  })
  const technician = await startTechnician({
    server: gw.url,
    entry: { pin },
    token: gw.token,
    onEvent: () => {},
  })
  teardowns.push(async () => {
    technician.session.end()
    host.end()
    await within(Promise.all([host.done, technician.session.done]), 5000, 'both sides to end')
  })
  const client = await within(technician.ssh, 10_000, 'SSH to come up')
  const audit = () => readAuditLog(auditFile).entries
  return { client, events, audit }
}

/** Counts what the technician's side asks for: SFTP WRITEs and READs, and subsystems by name. */
function countRequests(client: ssh2.Client) {
  const counts = { writes: 0, reads: 0, subsystems: [] as string[] }
  const sftp = client.sftp.bind(client)
  client.sftp = ((callback: (error: Error | undefined, opened: SFTPWrapper) => void) =>
    sftp((error, opened) => {
      if (opened) {
        const write = opened.write.bind(opened)
        const read = opened.read.bind(opened)
        opened.write = ((...args: Parameters<SFTPWrapper['write']>) => {
          counts.writes++
          return write(...args)
        }) as SFTPWrapper['write']
        opened.read = ((...args: Parameters<SFTPWrapper['read']>) => {
          counts.reads++
          return read(...args)
        }) as SFTPWrapper['read']
      }
      callback(error, opened)
    })) as typeof client.sftp
  const subsys = client.subsys.bind(client)
  client.subsys = ((name: string, callback: (error: Error | undefined, channel: ClientChannel) => void) => {
    counts.subsystems.push(name)
    return subsys(name, callback)
  }) as typeof client.subsys
  return counts
}

function openSftp(client: ssh2.Client): Promise<SFTPWrapper> {
  return within(
    new Promise((resolve, reject) => client.sftp((error, s) => (error ? reject(error) : resolve(s)))),
    5000,
    'sftp',
  )
}

/** One SFTP call; resolves with the error or the value, never rejects. */
function sftpCall<T = undefined>(send: (done: (error: Error | null | undefined, value?: T) => void) => void) {
  return within(
    new Promise<Error | T>((resolve) => send((error, value) => resolve(error ?? (value as T)))),
    10_000,
    'an SFTP answer',
  )
}

/** A raw `file-stream@rescue` channel: writes `input`, ends, and collects what the host says. */
async function rawStream(client: ssh2.Client, input: (string | Buffer)[]) {
  const channel = await within(
    new Promise<ClientChannel>((resolve, reject) =>
      client.subsys(FILE_STREAM_SUBSYSTEM, (error, opened) => (error ? reject(error) : resolve(opened))),
    ),
    5000,
    'the stream channel',
  )
  const stdout: Buffer[] = []
  let stderr = ''
  let code: number | undefined
  channel.on('data', (chunk: Buffer) => stdout.push(chunk))
  channel.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  channel.on('exit', (exitCode: number) => (code = exitCode))
  channel.on('end', () => channel.close())
  const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()))
  for (const part of input) channel.write(part)
  channel.end()
  await within(closed, 10_000, 'the stream channel to close')
  return { stdout: Buffer.concat(stdout), stderr, code }
}

/** The raw `transfer@rescue` channel, for `expect`. */
async function rawTransfer(client: ssh2.Client) {
  const channel = await within(
    new Promise<ClientChannel>((resolve, reject) =>
      client.subsys(TRANSFER_SUBSYSTEM, (error, opened) => (error ? reject(error) : resolve(opened))),
    ),
    5000,
    'the transfer channel',
  )
  let received = ''
  channel.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')))
  channel.stderr.resume()
  let id = 0
  return async (body: object) => {
    const before = received.length
    channel.write(`${JSON.stringify({ ...body, id: ++id })}\n`)
    await waitFor(() => received.length > before && received.endsWith('\n'), 10_000, 'an answer')
    return JSON.parse(received.slice(before)) as { ok: boolean; error?: string }
  }
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const header = (body: object) => `${JSON.stringify(body)}\n`

describe('rescue send and get move the bytes on file-stream@rescue', () => {
  it('a 5 MiB file goes and comes back with no SFTP WRITE or READ, its hash on both ends and in the audit log', async () => {
    const { client, audit } = await pair(['files.send', 'files.receive'])
    const counts = countRequests(client)
    const content = randomBytes(5 * MiB + 123)
    const local = path.join(dir, 'big.bin')
    fs.writeFileSync(local, content)
    const target = path.join(dir, 'landed.bin')
    const back = path.join(dir, 'back.bin')

    const transfers = await Transfers.open(client)
    const progress: number[] = []
    const sent = await transfers.sendFile(local, target, { onProgress: (bytes) => progress.push(bytes) })
    const got = await transfers.getFile(target, back)
    transfers.close()

    expect(sent).toMatchObject({ bytes: content.length, sha256: sha256(content), moved: content.length })
    expect(got).toMatchObject({ bytes: content.length, sha256: sha256(content) })
    expect(fs.readFileSync(target).equals(content)).toBe(true)
    expect(fs.readFileSync(back).equals(content)).toBe(true)
    expect(progress.at(-1)).toBe(content.length)
    // The bulk went on the stream: not one SFTP WRITE or READ.
    expect(counts).toMatchObject({ writes: 0, reads: 0 })
    expect(counts.subsystems.filter((name) => name === FILE_STREAM_SUBSYSTEM)).toHaveLength(2)
    // No partial left on either side.
    expect(fs.readdirSync(dir).filter((name) => name.endsWith('.rescue-partial'))).toEqual([])
    // The end user's log: both transfers, whole, with the name, size and SHA-256.
    await waitFor(
      () => audit().filter((entry) => entry.event === 'file-transfer').length >= 2,
      5000,
      'the transfers in the audit log',
    )
    const logged = audit().flatMap((entry) => (entry.event === 'file-transfer' ? [entry] : []))
    expect(logged).toEqual([
      expect.objectContaining({
        direction: 'to-host',
        path: target,
        bytes: content.length,
        sha256: sha256(content),
        complete: true,
      }),
      expect.objectContaining({
        direction: 'from-host',
        path: target,
        bytes: content.length,
        sha256: sha256(content),
        complete: true,
      }),
    ])
  })

  it('a broken-off upload resumes on the stream from the checked partial', async () => {
    const { client } = await pair(['files.send'])
    const content = randomBytes(4 * MiB)
    const local = path.join(dir, 'resume.bin')
    fs.writeFileSync(local, content)
    const target = path.join(dir, 'resumed.bin')
    // The first 1.5 MiB arrive through a stream that then stops: the partial keeps them.
    const sftp = await openSftp(client)
    const handle = await sftpCall<Buffer>((done) =>
      sftp.open(target, OPEN_MODE.WRITE | OPEN_MODE.CREAT | OPEN_MODE.TRUNC, { size: content.length }, done),
    )
    if (handle instanceof Error) throw handle
    const first = content.subarray(0, 1.5 * MiB)
    const cut = await rawStream(client, [
      header({ op: 'write', handle: handle.toString('hex'), offset: 0, length: content.length }),
      first,
    ])
    expect(cut.code).toBe(1)
    expect(cut.stderr).toContain(`the stream ended after ${first.length} of ${content.length} bytes`)
    sftp.end()
    const partial = path.join(dir, '.resumed.bin.rescue-partial')
    await waitFor(() => fs.existsSync(partial) && !fs.existsSync(target), 5000, 'the partial kept')
    expect(fs.readFileSync(partial).equals(first)).toBe(true)

    const counts = countRequests(client)
    const transfers = await Transfers.open(client)
    const sent = await transfers.sendFile(local, target, { resume: true })
    transfers.close()
    expect(sent).toMatchObject({ resumedFrom: first.length, sha256: sha256(content) })
    expect(fs.readFileSync(target).equals(content)).toBe(true)
    expect(fs.existsSync(partial)).toBe(false)
    expect(counts.writes).toBe(0)
  })

  it('a host that refuses the stream (an older rescue) still gets the files through SFTP, asked once', async () => {
    const { client, audit } = await pair(['files.send', 'files.receive'])
    // As an older host: the subsystem asked for is one it does not know, refused for real.
    const subsys = client.subsys.bind(client)
    client.subsys = ((name: string, callback: (error: Error | undefined, channel: ClientChannel) => void) =>
      subsys(
        name === FILE_STREAM_SUBSYSTEM ? 'file-stream-unknown@rescue' : name,
        callback,
      )) as typeof client.subsys
    const counts = countRequests(client)
    const content = randomBytes(3 * MiB)
    const local = path.join(dir, 'old.bin')
    fs.writeFileSync(local, content)
    const transfers = await Transfers.open(client)
    await transfers.sendFile(local, path.join(dir, 'one.bin'))
    await transfers.sendFile(local, path.join(dir, 'two.bin'))
    const got = await transfers.getFile(path.join(dir, 'one.bin'), path.join(dir, 'three.bin'))
    transfers.close()
    expect(got.sha256).toBe(sha256(content))
    for (const name of ['one.bin', 'two.bin', 'three.bin'])
      expect(fs.readFileSync(path.join(dir, name)).equals(content)).toBe(true)
    expect(counts.writes).toBeGreaterThan(0)
    expect(counts.reads).toBeGreaterThan(0)
    // Refused once, then not asked again for the other files of the command.
    expect(counts.subsystems.filter((name) => name === FILE_STREAM_SUBSYSTEM)).toHaveLength(1)
    await waitFor(
      () =>
        audit().some((entry) => entry.event === 'refused' && entry.request.includes('file-stream-unknown')),
      5000,
      'the refusal in the log',
    )
  })
})

describe('bad input on file-stream@rescue', () => {
  it('a truncated stream, a wrong offset, too many bytes or a header that is not one: a clear error, nothing under the final name', async () => {
    const { client } = await pair(['files.send'])
    const sftp = await openSftp(client)
    const expect_ = await rawTransfer(client)
    const content = randomBytes(2 * MiB)
    const target = path.join(dir, 'target.bin')
    const partial = path.join(dir, '.target.bin.rescue-partial')
    const handle = await sftpCall<Buffer>((done) =>
      sftp.open(target, OPEN_MODE.WRITE | OPEN_MODE.CREAT | OPEN_MODE.TRUNC, { size: content.length }, done),
    )
    if (handle instanceof Error) throw handle
    const hex = handle.toString('hex')

    expect(await rawStream(client, ['this is not json\n'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('the stream must start with a header line') as unknown,
    })
    expect(await rawStream(client, ['x'.repeat(5000)])).toMatchObject({ code: 1 })
    const wrong = await rawStream(client, [
      header({ op: 'write', handle: hex, offset: 10, length: 5 }),
      'hello',
    ])
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('wrong offset: the file has 0 bytes, the stream starts at 10')
    expect(fs.statSync(partial).size).toBe(0)
    const tooMany = await rawStream(client, [
      header({ op: 'write', handle: hex, offset: 0, length: 4 }),
      'hello',
    ])
    expect(tooMany.code).toBe(1)
    expect(tooMany.stderr).toContain('more than the 4 bytes the header said')
    // A handle open for writing cannot be read back through the stream.
    const readBack = await rawStream(client, [header({ op: 'read', handle: hex, offset: 0, length: 1 })])
    expect(readBack).toMatchObject({ code: 1, stdout: Buffer.alloc(0) })
    expect(readBack.stderr).toContain('that file is not open for reading')

    // Truncated: half of what the header said, then the end. CLOSE then keeps the partial.
    const half = content.subarray(0, MiB)
    const written = fs.statSync(partial).size
    const truncated = await rawStream(client, [
      header({ op: 'write', handle: hex, offset: written, length: content.length - written }),
      half.subarray(written),
    ])
    expect(truncated.code).toBe(1)
    expect(truncated.stderr).toContain('the stream ended after')
    expect(
      await expect_({ op: 'expect', path: target, size: content.length, sha256: sha256(content) }),
    ).toMatchObject({ ok: true })
    const closed = await sftpCall((done) => sftp.close(handle, done))
    expect(closed).toBeInstanceOf(Error)
    expect((closed as Error).message).toContain('arrived where')
    expect(fs.existsSync(target)).toBe(false)
    expect(fs.existsSync(partial)).toBe(true)
    // The handle is closed now: the stream cannot reach the file through it any more.
    const late = await rawStream(client, [header({ op: 'write', handle: hex, offset: MiB, length: 1 }), 'x'])
    expect(late.stderr).toContain('no file is open under that handle')
  })

  it('all bytes on the stream but the wrong hash: the host keeps nothing under the final name', async () => {
    const { client } = await pair(['files.send'])
    const sftp = await openSftp(client)
    const expect_ = await rawTransfer(client)
    const content = randomBytes(MiB + 7)
    const target = path.join(dir, 'forged.bin')
    const handle = await sftpCall<Buffer>((done) =>
      sftp.open(target, OPEN_MODE.WRITE | OPEN_MODE.CREAT | OPEN_MODE.TRUNC, { size: content.length }, done),
    )
    if (handle instanceof Error) throw handle
    const sent = await rawStream(client, [
      header({ op: 'write', handle: handle.toString('hex'), offset: 0, length: content.length }),
      content,
    ])
    expect(sent.code).toBe(0)
    // The host says how far it got at least every MiB, and at the end.
    const counts = sent.stdout
      .toString('utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { written: number }).written)
    expect(counts.at(-1)).toBe(content.length)
    expect(
      await expect_({ op: 'expect', path: target, size: content.length, sha256: '0'.repeat(64) }),
    ).toMatchObject({ ok: true })
    const closed = await sftpCall((done) => sftp.close(handle, done))
    expect(closed).toBeInstanceOf(Error)
    expect((closed as Error).message).toContain('SHA-256 mismatch')
    expect(fs.existsSync(target)).toBe(false)
  })

  it('consent denied: no handle, so no stream reaches the file; a read past the end of an allowed file is refused', async () => {
    const { client, audit } = await pair(['files.receive'])
    const sftp = await openSftp(client)
    const secret = path.join(dir, 'secret.txt')
    fs.writeFileSync(secret, 'not for the technician')
    // Writing is not allowed: the OPEN is refused and gives no handle.
    const refused = await sftpCall<Buffer>((done) =>
      sftp.open(path.join(dir, 'planted.sh'), OPEN_MODE.WRITE | OPEN_MODE.CREAT, {}, done),
    )
    expect(refused).toBeInstanceOf(Error)
    // Guessing handles finds nothing to write to or read from.
    for (let guess = 0; guess <= 4; guess++) {
      const hex = guess.toString(16).padStart(8, '0')
      for (const op of ['write', 'read']) {
        const answer = await rawStream(client, [
          header({ op, handle: hex, offset: 0, length: 3 }),
          op === 'write' ? 'abc' : '',
        ])
        expect(answer).toMatchObject({ code: 1, stdout: Buffer.alloc(0) })
        expect(answer.stderr).toContain('no file is open under that handle')
      }
    }
    expect(fs.existsSync(path.join(dir, 'planted.sh'))).toBe(false)
    expect(fs.readdirSync(dir).filter((name) => name.includes('planted'))).toEqual([])

    // Reading is allowed: the stream gives exactly the bytes asked for, and no more than the file has.
    const handle = await sftpCall<Buffer>((done) => sftp.open(secret, OPEN_MODE.READ, {}, done))
    if (handle instanceof Error) throw handle
    const hex = handle.toString('hex')
    const past = await rawStream(client, [header({ op: 'read', handle: hex, offset: 4, length: 100 })])
    expect(past).toMatchObject({ code: 1, stdout: Buffer.alloc(0) })
    expect(past.stderr).toContain('it cannot give 100 from 4')
    const part = await rawStream(client, [header({ op: 'read', handle: hex, offset: 4, length: 3 })])
    expect(part).toMatchObject({ code: 0, stdout: Buffer.from('for') })
    expect(await sftpCall((done) => sftp.close(handle, done))).toBeUndefined()
    // The end user's log says the technician read part of it, not the whole.
    await waitFor(
      () => audit().some((entry) => entry.event === 'file-transfer'),
      5000,
      'the transfer in the audit log',
    )
    expect(audit().find((entry) => entry.event === 'file-transfer')).toMatchObject({
      direction: 'from-host',
      path: secret,
      complete: false,
    })
  })
})
