/**
 * A hostile technician against the host's files: the raw ssh2 client that `startTechnician`
 * connected, speaking SFTP and `transfer@rescue` JSON lines as an altered client would, against a
 * real gateway and the real host (consent broker, SSH and SFTP servers, audit log). What the end
 * user allowed bounds what it learns and changes: a hash is a read, and looking is not changing.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ssh2, { type Attributes, type ClientChannel, type SFTPWrapper } from 'ssh2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readAuditLog, type AuditEntry } from '../src/core/audit/index.js'
import { api } from '../src/core/client/index.js'
import { permissions, type Permission } from '../src/core/consent/index.js'
import { startHost, type HostEvent } from '../src/core/host/index.js'
import { startTechnician } from '../src/core/technician/index.js'
import { Transfers } from '../src/core/transfer/copy.js'
import { TRANSFER_SUBSYSTEM } from '../src/core/transfer/protocol.js'
import { startTestGateway, waitFor, type TestGateway } from './helpers/gateway.js'

const { OPEN_MODE } = ssh2.utils.sftp

let gw: TestGateway
let dir: string
const teardowns: (() => Promise<void>)[] = []

beforeEach(async () => {
  // Real paths: the host names files with their links resolved (macOS's /var is one).
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-file-consent-')))
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

/** A host that answers only with `autoApprove` (interactive: prompts wait for `host.answer`). */
async function pair(options: { autoApprove: Permission[]; interactive?: boolean }) {
  const pin = await gw.newPin()
  const events: HostEvent[] = []
  const auditFile = path.join(dir, 'audit', 'audit.jsonl')
  const host = await startHost({
    server: gw.url,
    entry: { pin },
    interactive: options.interactive ?? false,
    confirmWords: false,
    // --auto-approve needs a --trust key or the operator's explicit word on the gateway: the test gives the latter.
    trustGateway: true,
    autoApprove: options.autoApprove,
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
  const sftp = await within(
    new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((error, s) => (error ? reject(error) : resolve(s))),
    ),
    5000,
    'sftp',
  )
  const audit = () => readAuditLog(auditFile).entries
  return { host, client, sftp, events, audit }
}

/** One SFTP call; resolves with the error or the value, never rejects. */
function sftpCall<T = undefined>(send: (done: (error: Error | null | undefined, value?: T) => void) => void) {
  return within(
    new Promise<Error | T>((resolve) => send((error, value) => resolve(error ?? (value as T)))),
    10_000,
    'an SFTP answer',
  )
}

interface Answer {
  id: number
  ok: boolean
  error?: string
  bytes?: number
  sha256?: string
}

/** The raw `transfer@rescue` channel: JSON lines out, every answer kept as it came. */
async function rawTransfer(client: ssh2.Client) {
  const channel = await within(
    new Promise<ClientChannel>((resolve, reject) =>
      client.subsys(TRANSFER_SUBSYSTEM, (error, opened) => (error ? reject(error) : resolve(opened))),
    ),
    5000,
    'the transfer channel',
  )
  const answers = new Map<number, Answer>()
  let received = ''
  channel.on('data', (chunk: Buffer) => {
    received += chunk.toString('utf8')
    const lines = received.split('\n')
    received = lines.pop() ?? ''
    for (const line of lines) {
      const answer = JSON.parse(line) as Answer
      answers.set(answer.id, answer)
    }
  })
  channel.stderr.resume()
  let nextId = 1
  const ask = async (body: object): Promise<Answer> => {
    const id = nextId++
    channel.write(`${JSON.stringify({ ...body, id })}\n`)
    await waitFor(() => answers.has(id), 10_000, `answer ${id}`)
    return answers.get(id)!
  }
  return { ask, answers: () => [...answers.values()], close: () => channel.close() }
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

const refusals = (entries: AuditEntry[]) =>
  entries.flatMap((entry) => (entry.event === 'refused' ? [entry.request] : []))

function decisions(entries: AuditEntry[], permission: Permission) {
  return entries.flatMap((entry) => {
    if (entry.event !== 'consent-request' || entry.permission !== permission) return []
    const decided = entries.find((other) => other.event === 'consent-decision' && other.id === entry.id)
    return [{ summary: entry.summary, detail: entry.detail, decided }]
  })
}

describe('a hash is a read', () => {
  it('with only files.send into a folder, the prefix-hash attack on a secret in it recovers nothing; a real resumed upload still works', async () => {
    const docs = path.join(dir, 'docs')
    fs.mkdirSync(docs)
    const secret = path.join(docs, 'secret.txt')
    const secretBytes = Buffer.from('the launch code is 0000, do not tell the technician!')
    fs.writeFileSync(secret, secretBytes, { mode: 0o600 })
    const prefixHashes = new Set(
      Array.from({ length: secretBytes.length + 1 }, (_, length) => sha256(secretBytes.subarray(0, length))),
    )
    const { client, sftp, audit } = await pair({ autoApprove: ['files.send'] })
    const transfer = await rawTransfer(client)
    const seen: string[] = []

    // A folder upload into docs: allowed, as the end user allowed files.send.
    expect(await transfer.ask({ op: 'plan', direction: 'to-host', root: docs })).toMatchObject({ ok: true })
    // The attack as it was run on the released tool: one hash per growing prefix.
    for (let length = 1; length <= secretBytes.length + 1; length++) {
      const answer = await transfer.ask({ op: 'hash', path: secret, length })
      expect(answer).toMatchObject({ ok: false })
      expect(answer.error).toContain('the end user did not let the technician read it')
    }
    // Through a link to it, through its partial name, and through `result`.
    fs.symlinkSync(secret, path.join(dir, 'link'))
    for (const where of [path.join(dir, 'link'), path.join(docs, '.secret.txt.rescue-partial')]) {
      expect(await transfer.ask({ op: 'hash', path: where, length: 10 })).toMatchObject({ ok: false })
    }
    expect(await transfer.ask({ op: 'result', path: secret })).toMatchObject({ ok: false })

    // An upload that starts from the file there (no TRUNC): its copy of the secret, cut to a
    // prefix and checked against a wrong hash, tells nothing in the refusal, in `result`, or by
    // hashing the copy, whose name a listing inside the folder upload shows.
    for (const length of [1, 2, 20]) {
      const handle = await sftpCall<Buffer>((done) => sftp.open(secret, OPEN_MODE.WRITE, {}, done))
      if (handle instanceof Error) throw handle
      expect(await sftpCall((done) => sftp.fsetstat(handle, { size: length }, done))).toBeUndefined()
      const listed = await sftpCall<{ filename: string }[]>((done) => sftp.readdir(docs, done))
      if (listed instanceof Error) throw listed
      const copy = listed.map((entry) => entry.filename).find((name) => name.endsWith('.rescue-edit'))
      expect(copy).toBeDefined()
      const onCopy = await transfer.ask({ op: 'hash', path: path.join(docs, copy!), length })
      expect(onCopy).toMatchObject({ ok: false })
      expect(
        await transfer.ask({ op: 'expect', path: secret, size: length, sha256: '0'.repeat(64) }),
      ).toMatchObject({ ok: true })
      const closed = await sftpCall((done) => sftp.close(handle, done))
      expect(closed).toBeInstanceOf(Error)
      seen.push((closed as Error).message)
      const result = await transfer.ask({ op: 'result', path: secret })
      expect(result).toMatchObject({ ok: false })
    }
    for (const answer of transfer.answers()) seen.push(JSON.stringify(answer))
    // Nothing the technician got holds the hash of any prefix of the secret.
    for (const text of seen) {
      for (const hash of prefixHashes) expect(text).not.toContain(hash)
    }
    // The secret is as it was, and no copy of it is left lying around.
    expect(fs.readFileSync(secret)).toEqual(secretBytes)
    expect(fs.readdirSync(docs)).toEqual(['secret.txt'])

    // A real upload into the same folder, broken off and resumed: the partial it wrote is its own.
    const local = path.join(dir, 'report.bin')
    const content = randomBytes(3 * 1024 * 1024)
    fs.writeFileSync(local, content)
    const target = path.join(docs, 'report.bin')
    const first = await sftpCall<Buffer>((done) =>
      sftp.open(target, OPEN_MODE.WRITE | OPEN_MODE.CREAT | OPEN_MODE.TRUNC, {}, done),
    )
    if (first instanceof Error) throw first
    const half = content.subarray(0, 1024 * 1024)
    expect(await sftpCall((done) => sftp.write(first, half, 0, half.length, 0, done))).not.toBeInstanceOf(
      Error,
    )
    sftp.end()
    const partial = path.join(docs, '.report.bin.rescue-partial')
    await waitFor(
      () => fs.existsSync(partial) && fs.statSync(partial).size === half.length,
      5000,
      'the partial',
    )
    const transfers = await Transfers.open(client)
    const notices: string[] = []
    const sent = await transfers.sendFile(local, target, {
      resume: true,
      onNotice: (text) => notices.push(text),
    })
    transfers.close()
    expect(sent).toMatchObject({ resumedFrom: half.length, sha256: sha256(content) })
    expect(fs.readFileSync(target).equals(content)).toBe(true)

    // The end user was told that upload would replace their file.
    expect(decisions(audit(), 'files.send').map((entry) => entry.summary)).toContain(
      `put a file on this computer: secret.txt into ${docs}, replacing the file there`,
    )
    // Every refused hash is in the end user's audit log, naming the file.
    await waitFor(() => refusals(audit()).length >= secretBytes.length + 1, 5000, 'the refusals in the log')
    const refused = refusals(audit())
    expect(refused.filter((line) => line.includes(`SHA-256 of ${secret}:`)).length).toBeGreaterThanOrEqual(
      secretBytes.length + 1,
    )
    expect(refused.some((line) => line.includes('.rescue-edit'))).toBe(true)
  })
})

describe('looking is not changing', () => {
  function victims() {
    const home = path.join(dir, 'home')
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true })
    fs.mkdirSync(path.join(home, 'empty'))
    const key = path.join(home, '.ssh', 'id_ed25519')
    fs.writeFileSync(key, 'PRIVATE KEY\n', { mode: 0o600 })
    fs.chmodSync(key, 0o600)
    fs.writeFileSync(path.join(home, 'notes.txt'), 'keep me\n')
    fs.writeFileSync(path.join(home, '.bashrc'), 'export PS1=x\n')
    return { home, key, notes: path.join(home, 'notes.txt'), bashrc: path.join(home, '.bashrc') }
  }

  /** Every change the released tool let files.browse make; resolves with each outcome. */
  async function destroy(sftp: SFTPWrapper, files: ReturnType<typeof victims>) {
    const listing = await sftpCall<Buffer>((done) => sftp.opendir(files.home, done))
    if (listing instanceof Error) throw listing
    return {
      truncate: await sftpCall((done) => sftp.setstat(files.key, { size: 0 }, done)),
      chmod: await sftpCall((done) => sftp.chmod(files.key, 0o666, done)),
      utimes: await sftpCall((done) => sftp.utimes(files.notes, 1, 1, done)),
      chmodByHandle: await sftpCall((done) => sftp.fsetstat(listing, { mode: 0o777 } as Attributes, done)),
      remove: await sftpCall((done) => sftp.unlink(files.notes, done)),
      rename: await sftpCall((done) => sftp.rename(files.bashrc, `${files.bashrc}.old`, done)),
      mkdir: await sftpCall((done) => sftp.mkdir(path.join(files.home, 'made'), done)),
      rmdir: await sftpCall((done) => sftp.rmdir(path.join(files.home, 'empty'), done)),
    }
  }

  it('with only files.browse, truncate, chmod 0666, times, remove, rename, mkdir and rmdir change nothing', async () => {
    const files = victims()
    const homeMode = fs.statSync(files.home).mode
    const notesTime = fs.statSync(files.notes).mtimeMs
    const { sftp, audit } = await pair({ autoApprove: ['files.browse'] })

    // Browsing still works: listing and stat.
    const listed = await sftpCall<{ filename: string }[]>((done) => sftp.readdir(files.home, done))
    if (listed instanceof Error) throw listed
    expect(listed.map((entry) => entry.filename).sort()).toEqual(['.bashrc', '.ssh', 'empty', 'notes.txt'])
    expect(await sftpCall<ssh2.Stats>((done) => sftp.stat(files.key, done))).toMatchObject({ size: 12 })

    const outcomes = await destroy(sftp, files)
    for (const [what, outcome] of Object.entries(outcomes)) {
      expect(outcome, what).toBeInstanceOf(Error)
      // Nobody at this host's terminal: refused, and the technician is told why.
      expect((outcome as Error).message, what).toContain(
        "no one is at the host's terminal to allow changing files",
      )
    }
    expect(fs.readFileSync(files.key, 'utf8')).toBe('PRIVATE KEY\n')
    expect(fs.statSync(files.key).mode & 0o777).toBe(0o600)
    expect(fs.statSync(files.home).mode).toBe(homeMode)
    expect(fs.statSync(files.notes).mtimeMs).toBe(notesTime)
    expect(fs.readFileSync(files.notes, 'utf8')).toBe('keep me\n')
    expect(fs.readFileSync(files.bashrc, 'utf8')).toBe('export PS1=x\n')
    expect(fs.existsSync(`${files.bashrc}.old`)).toBe(false)
    expect(fs.existsSync(path.join(files.home, 'made'))).toBe(false)
    expect(fs.statSync(path.join(files.home, 'empty')).isDirectory()).toBe(true)

    // Each was asked as files.modify, naming the path and the change, and refused.
    const asked = decisions(audit(), 'files.modify')
    expect(asked.map((entry) => entry.summary)).toEqual([
      `change the size of ${files.key} to 0 B`,
      `change the mode of ${files.key} to 0666`,
      `change the dates of ${files.notes}`,
      `change the mode of ${files.home} to 0777`,
      `delete a file on this computer: ${files.notes}`,
      `rename a file on this computer: ${files.bashrc} to ${files.bashrc}.old`,
      `create a folder on this computer: ${path.join(files.home, 'made')}`,
      `delete a folder on this computer: ${path.join(files.home, 'empty')}`,
    ])
    for (const entry of asked) expect(entry.decided).toMatchObject({ decision: 'deny', by: 'no-terminal' })
  })

  it('with files.modify allowed, the same changes happen, each asked and logged', async () => {
    const files = victims()
    const { sftp, audit } = await pair({ autoApprove: ['files.browse', 'files.modify'] })

    const outcomes = await destroy(sftp, files)
    for (const [what, outcome] of Object.entries(outcomes)) expect(outcome, what).toBeUndefined()
    expect(fs.statSync(files.key).size).toBe(0)
    expect(fs.statSync(files.key).mode & 0o777).toBe(0o666)
    expect(fs.statSync(files.home).mode & 0o777).toBe(0o777)
    expect(fs.existsSync(files.notes)).toBe(false)
    expect(fs.existsSync(`${files.bashrc}.old`)).toBe(true)
    expect(fs.statSync(path.join(files.home, 'made')).isDirectory()).toBe(true)
    expect(fs.existsSync(path.join(files.home, 'empty'))).toBe(false)
    const asked = decisions(audit(), 'files.modify')
    expect(asked).toHaveLength(8)
    for (const entry of asked) expect(entry.decided).toMatchObject({ decision: 'once', by: 'auto-approve' })
  })

  it('asks the end user, who may allow one change and refuse the next', async () => {
    const files = victims()
    const { host, sftp, events, audit } = await pair({ autoApprove: ['files.browse'], interactive: true })
    const prompt = async (n: number) => {
      await waitFor(
        () => events.filter((event) => event.event === 'consent-request').length >= n,
        5000,
        `prompt ${n}`,
      )
      return events.filter((event) => event.event === 'consent-request')[n - 1] as Extract<
        HostEvent,
        { event: 'consent-request' }
      >
    }
    const chmod = sftpCall((done) => sftp.chmod(files.key, 0o640, done))
    const first = await prompt(1)
    expect(first).toMatchObject({
      permission: 'files.modify',
      summary: `change the mode of ${files.key} to 0640`,
    })
    host.answer(first.id, 'once')
    expect(await chmod).toBeUndefined()
    expect(fs.statSync(files.key).mode & 0o777).toBe(0o640)

    const remove = sftpCall((done) => sftp.unlink(files.key, done))
    const second = await prompt(2)
    expect(second).toMatchObject({ permission: 'files.modify', detail: files.key })
    host.answer(second.id, 'deny')
    expect(await remove).toBeInstanceOf(Error)
    expect(fs.readFileSync(files.key, 'utf8')).toBe('PRIVATE KEY\n')
    expect(decisions(audit(), 'files.modify').map((entry) => entry.decided)).toEqual([
      expect.objectContaining({ decision: 'once', by: 'end-user' }),
      expect.objectContaining({ decision: 'deny', by: 'end-user' }),
    ])
  })

  it('refuses files.modify unasked when the technician’s groups do not allow it', async () => {
    await api.admin.setGroup(gw.url, gw.token, 'admins', {
      allow: permissions.filter((permission) => permission !== 'files.modify'),
    })
    const files = victims()
    const { sftp, events, audit } = await pair({ autoApprove: [], interactive: true })
    expect(await sftpCall((done) => sftp.unlink(files.notes, done))).toBeInstanceOf(Error)
    expect(fs.existsSync(files.notes)).toBe(true)
    expect(decisions(audit(), 'files.modify').map((entry) => entry.decided)).toEqual([
      expect.objectContaining({ decision: 'deny', by: 'policy' }),
    ])
    // Nothing was put to the end user to answer.
    expect(events.filter((event) => event.event === 'consent-decision' && event.by === 'end-user')).toEqual(
      [],
    )
  })

  it('an allowed upload sets the mode and times of what it wrote, and a folder upload makes its folders, unasked', async () => {
    const target = path.join(dir, 'drop')
    fs.mkdirSync(target)
    const theirs = path.join(target, 'theirs.txt')
    fs.writeFileSync(theirs, 'the end user’s\n', { mode: 0o600 })
    fs.chmodSync(theirs, 0o600)
    const { client, sftp, audit } = await pair({ autoApprove: ['files.send'] })

    // scp -p: upload, then the file's mode and times.
    const mine = path.join(target, 'mine.sh')
    expect(await sftpCall((done) => sftp.writeFile(mine, 'echo hi\n', done))).toBeUndefined()
    expect(
      await sftpCall((done) => sftp.setstat(mine, { mode: 0o755, atime: 1000, mtime: 2000 }, done)),
    ).toBeUndefined()
    expect(fs.statSync(mine).mode & 0o777).toBe(0o755)
    expect(fs.statSync(mine).mtimeMs).toBe(2_000_000)
    // Not a setuid bit, and not the end user's file.
    expect(await sftpCall((done) => sftp.chmod(mine, 0o4755, done))).toBeInstanceOf(Error)
    expect(await sftpCall((done) => sftp.chmod(theirs, 0o644, done))).toBeInstanceOf(Error)
    expect(fs.statSync(mine).mode & 0o7777).toBe(0o755)
    expect(fs.statSync(theirs).mode & 0o777).toBe(0o600)
    // A folder outside any folder upload needs files.modify; inside one, its plan covers it.
    expect(await sftpCall((done) => sftp.mkdir(path.join(target, 'loose'), done))).toBeInstanceOf(Error)
    const transfer = await rawTransfer(client)
    const tree = path.join(target, 'tree')
    expect(await transfer.ask({ op: 'plan', direction: 'to-host', root: tree })).toMatchObject({ ok: true })
    expect(await sftpCall((done) => sftp.mkdir(tree, done))).toBeUndefined()
    expect(await sftpCall((done) => sftp.mkdir(path.join(tree, 'sub'), done))).toBeUndefined()
    expect(await sftpCall((done) => sftp.utimes(tree, 1000, 3000, done))).toBeUndefined()
    expect(fs.statSync(path.join(tree, 'sub')).isDirectory()).toBe(true)
    expect(fs.existsSync(path.join(target, 'loose'))).toBe(false)
    // What it wrote it may hash (a resume's check); what was there it may not.
    expect(await transfer.ask({ op: 'hash', path: mine, length: 100 })).toMatchObject({
      ok: true,
      sha256: sha256(Buffer.from('echo hi\n')),
    })
    expect(await transfer.ask({ op: 'hash', path: theirs, length: 100 })).toMatchObject({ ok: false })

    const modify = decisions(audit(), 'files.modify')
    expect(modify.map((entry) => entry.summary)).toEqual([
      `change the mode of ${mine} to 4755`,
      `change the mode of ${theirs} to 0644`,
      `create a folder on this computer: ${path.join(target, 'loose')}`,
    ])
    for (const entry of modify) expect(entry.decided).toMatchObject({ decision: 'deny', by: 'no-terminal' })
  })
})
