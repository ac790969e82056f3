/**
 * The host's SFTP server against a real ssh2 Server and Client on 127.0.0.1, with real files in
 * temporary folders: a scripted end user answers the prompts, and the tests look at what lands on
 * disk, what the prompts said and what was reported.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import type net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import ssh2, { type SFTPWrapper } from 'ssh2'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { generateSshKeyPair } from './keys.js'
import {
  DENIED_MESSAGE,
  partialName,
  serveSftp,
  type FilePermission,
  type SftpProgress,
  type SftpTransfer,
} from './sftp-server.js'

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp
const MiB = 1024 * 1024
// Any raw C0 or C1 control, DEL, or bidi override: what must never reach the end user's terminal.
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u

interface Ask {
  permission: FilePermission
  summary: string
  detail: string
}

const hostKey = generateSshKeyPair().privateKey
let home: string
let local: string
let server: ssh2.Server
let port: number
let asks: Ask[]
let activity: SftpTransfer[]
let progress: SftpProgress[]
let answer: (ask: Ask) => boolean
const clients: ssh2.Client[] = []

beforeEach(async () => {
  // Real paths: the prompts show folders with their links resolved (macOS's /var is one).
  home = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-sftp-home-')))
  local = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-sftp-local-')))
  asks = []
  activity = []
  progress = []
  answer = () => true
  server = new ssh2.Server({ hostKeys: [hostKey] }, (connection) => {
    connection.on('error', () => {})
    connection.on('authentication', (context) => context.accept())
    connection.on('ready', () => {
      connection.on('session', (accept) => {
        accept().on('sftp', (acceptSftp) => {
          serveSftp(acceptSftp(), {
            home,
            onActivity: (entry) =>
              entry.event === 'file-progress' ? progress.push(entry) : activity.push(entry),
            consent: {
              ask: (permission, summary, detail) => {
                const ask = { permission, summary, detail }
                asks.push(ask)
                return Promise.resolve(answer(ask))
              },
            },
          })
        })
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as net.AddressInfo).port
})

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy()
  await within(new Promise<void>((resolve) => server.close(() => resolve())), 5000, 'the server to close')
  fs.rmSync(home, { recursive: true, force: true })
  fs.rmSync(local, { recursive: true, force: true })
})

/** Rejects when `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

/** One ssh2 client call as a promise, failing the test when it gets no answer in time. */
function call<T = void>(
  what: string,
  send: (callback: (error: Error | undefined | null, value: T) => void) => void,
) {
  return within(
    new Promise<T>((resolve, reject) => send((error, value) => (error ? reject(error) : resolve(value)))),
    20_000,
    what,
  )
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function connect(): Promise<{ client: ssh2.Client; sftp: SFTPWrapper }> {
  const client = new ssh2.Client()
  clients.push(client)
  await within(
    new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject)
      client.connect({ host: '127.0.0.1', port, username: 'technician' })
    }),
    10_000,
    'the SSH connection',
  )
  client.on('error', () => {})
  const sftp = await call<SFTPWrapper>('the sftp subsystem', (callback) => client.sftp(callback))
  return { client, sftp }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

function localFile(name: string, size: number): { file: string; data: Buffer } {
  const data = randomBytes(size)
  const file = path.join(local, name)
  fs.writeFileSync(file, data)
  return { file, data }
}

/** Writes `data` at `position` through an open handle, waiting for the host's answer. */
function writeAt(sftp: SFTPWrapper, handle: Buffer, data: Buffer, position: number): Promise<void> {
  return call('a write', (callback) => sftp.write(handle, data, 0, data.length, position, callback))
}

describe('uploads (files.send)', () => {
  it('lands a 5 MiB file whole, with its SHA-256, and leaves no partial file', async () => {
    fs.mkdirSync(path.join(home, 'incoming'))
    const { file, data } = localFile('fix.bin', 5 * MiB)
    const { sftp } = await connect()

    await call('fastPut', (callback) => sftp.fastPut(file, 'incoming/fix.bin', callback))

    const target = path.join(home, 'incoming', 'fix.bin')
    expect(sha256(fs.readFileSync(target))).toBe(sha256(data))
    expect(fs.readdirSync(path.join(home, 'incoming'))).toEqual(['fix.bin'])
    expect(fs.statSync(target).mode & 0o777).toBe(0o644)
    expect(asks).toEqual([
      {
        permission: 'files.send',
        summary: `put a file on this computer: fix.bin into ${path.join(home, 'incoming')}`,
        detail: target,
      },
    ])
    expect(activity).toEqual([
      {
        event: 'file-transfer',
        direction: 'to-host',
        path: target,
        bytes: 5 * MiB,
        sha256: sha256(data),
        complete: true,
      },
    ])
    // The end user sees it on its way: the first write is reported at once.
    expect(progress[0]).toMatchObject({ event: 'file-progress', direction: 'to-host', path: target })
    expect(progress[0]!.bytes).toBeGreaterThan(0)
  })

  it('is refused when the end user says no: the client gets an error and nothing is written', async () => {
    answer = () => false
    const { file } = localFile('fix.sh', 1000)
    const { sftp } = await connect()

    const error = await call('fastPut', (callback) => sftp.fastPut(file, 'fix.sh', callback)).catch(
      (failure: unknown) => failure,
    )

    expect(error).toMatchObject({ code: STATUS_CODE.PERMISSION_DENIED, message: DENIED_MESSAGE })
    expect(fs.readdirSync(home)).toEqual([])
    expect(asks.map((ask) => ask.permission)).toEqual(['files.send'])
    expect(activity).toEqual([])
  })

  it('replaces what a new upload finds at its partial name: a stale partial, or a link out of the folder', async () => {
    const outside = path.join(local, 'not-yours.txt')
    fs.writeFileSync(outside, 'keep me')
    fs.writeFileSync(path.join(home, partialName('stale.bin')), 'left over from an upload long gone')
    fs.symlinkSync(outside, path.join(home, partialName('linked.bin')))
    const { file, data } = localFile('fresh.bin', 3000)
    const { sftp } = await connect()

    await call('fastPut', (callback) => sftp.fastPut(file, 'stale.bin', callback))
    await call('fastPut', (callback) => sftp.fastPut(file, 'linked.bin', callback))

    expect(fs.readFileSync(path.join(home, 'stale.bin'))).toEqual(data)
    expect(fs.readFileSync(path.join(home, 'linked.bin'))).toEqual(data)
    expect(fs.lstatSync(path.join(home, 'linked.bin')).isFile()).toBe(true)
    expect(fs.readFileSync(outside, 'utf8')).toBe('keep me')
    expect(fs.readdirSync(home).sort()).toEqual(['linked.bin', 'stale.bin'])
  })

  it('shows an announced size in the prompt and keeps a file shorter than announced as a partial', async () => {
    const { sftp } = await connect()
    const handle = await call<Buffer>('open', (callback) =>
      sftp.open('short.bin', 'w', { size: 100 * 1024 }, callback),
    )
    const data = randomBytes(50 * 1024)
    await writeAt(sftp, handle, data, 0)
    const error = await call('close', (callback) => sftp.close(handle, callback)).catch(
      (failure: unknown) => failure,
    )

    expect(asks[0]?.summary).toBe(`put a file on this computer: short.bin (100.0 KiB) into ${home}`)
    expect(error).toMatchObject({ code: STATUS_CODE.FAILURE })
    expect(String(error)).toContain('51200 bytes arrived where 102400 were announced')
    expect(fs.existsSync(path.join(home, 'short.bin'))).toBe(false)
    expect(fs.readFileSync(path.join(home, partialName('short.bin')))).toEqual(data)
    expect(activity).toMatchObject([
      { direction: 'to-host', bytes: data.length, sha256: sha256(data), complete: false },
    ])
  })

  it('hashes what is in the file after an FSETSTAT of its size, as OpenSSH ends each upload', async () => {
    const { sftp } = await connect()
    const data = randomBytes(3000)
    for (const [name, size] of [
      ['same.bin', data.length],
      ['cut.bin', 1000],
      ['longer.bin', 4000],
    ] as const) {
      const handle = await call<Buffer>('open', (callback) => sftp.open(name, 'w', { mode: 0o640 }, callback))
      await writeAt(sftp, handle, data, 0)
      await call('fsetstat', (callback) => sftp.fsetstat(handle, { size }, callback))
      await call('close', (callback) => sftp.close(handle, callback))
    }

    const expected = [data, data.subarray(0, 1000), Buffer.concat([data, Buffer.alloc(1000)])]
    expect(
      ['same.bin', 'cut.bin', 'longer.bin'].map((name) => fs.readFileSync(path.join(home, name))),
    ).toEqual(expected)
    expect(fs.statSync(path.join(home, 'same.bin')).mode & 0o777).toBe(0o640)
    expect(activity).toMatchObject(
      expected.map((bytes) => ({
        direction: 'to-host',
        bytes: bytes.length,
        sha256: sha256(bytes),
        complete: true,
      })),
    )
  })

  it('does not put in place a file with a gap nobody wrote', async () => {
    const { sftp } = await connect()
    const handle = await call<Buffer>('open', (callback) => sftp.open('gap.bin', 'w', callback))
    await writeAt(sftp, handle, randomBytes(1000), 0)
    await writeAt(sftp, handle, randomBytes(1000), 5000)
    const error = await call('close', (callback) => sftp.close(handle, callback)).catch(
      (failure: unknown) => failure,
    )

    expect(String(error)).toContain('nothing was written at offset 1000')
    expect(fs.existsSync(path.join(home, 'gap.bin'))).toBe(false)
    expect(fs.statSync(path.join(home, partialName('gap.bin'))).size).toBe(6000)
    expect(activity).toMatchObject([{ complete: false, bytes: 6000 }])
  })

  it('assembles writes that come out of order and hashes the file they make', async () => {
    const data = randomBytes(96 * 1024)
    const chunk = 32 * 1024
    const { sftp } = await connect()
    const handle = await call<Buffer>('open', (callback) => sftp.open('shuffled.bin', 'w', callback))
    for (const start of [2 * chunk, 0, chunk])
      await writeAt(sftp, handle, data.subarray(start, start + chunk), start)
    await call('close', (callback) => sftp.close(handle, callback))

    expect(fs.readFileSync(path.join(home, 'shuffled.bin'))).toEqual(data)
    expect(activity).toMatchObject([{ bytes: data.length, sha256: sha256(data), complete: true }])
  })

  it('lands writes sent all at once, out of order, and a size change after them, as the client sent them', async () => {
    const data = randomBytes(128 * 1024)
    const { sftp } = await connect()
    const handle = await call<Buffer>('open', (callback) => sftp.open('batched.bin', 'w', callback))
    // Nothing awaited in between: the host has them all at once, as a client with many in flight
    // sends. 16 KiB each: ssh2's client sends the rest of a larger write only after the first reply.
    await Promise.all([
      ...[0, 1, 7, 2, 3, 5, 4, 6].map((n) =>
        writeAt(sftp, handle, data.subarray(n * 16 * 1024, (n + 1) * 16 * 1024), n * 16 * 1024),
      ),
      call('fsetstat', (callback) => sftp.fsetstat(handle, { size: 100 * 1024 }, callback)),
    ])
    await call('close', (callback) => sftp.close(handle, callback))

    const expected = data.subarray(0, 100 * 1024)
    expect(fs.readFileSync(path.join(home, 'batched.bin'))).toEqual(expected)
    expect(activity).toMatchObject([{ bytes: expected.length, sha256: sha256(expected), complete: true }])
  })

  it('keeps an interrupted upload as a partial file, and a resumed one completes it', async () => {
    const { data } = localFile('big.bin', 2 * MiB)
    const chunk = 32 * 1024
    const half = MiB
    const first = await connect()
    const handle = await call<Buffer>('open', (callback) => first.sftp.open('big.bin', 'w', callback))
    for (let offset = 0; offset < half; offset += chunk) {
      await writeAt(first.sftp, handle, data.subarray(offset, offset + chunk), offset)
    }
    first.client.destroy()
    await waitFor('the interrupted upload to be reported', () => activity.length === 1)

    const partial = path.join(home, partialName('big.bin'))
    const target = path.join(home, 'big.bin')
    expect(fs.existsSync(target)).toBe(false)
    expect(fs.statSync(partial).size).toBe(half)
    expect(fs.statSync(partial).mode & 0o777).toBe(0o600)
    expect(activity[0]).toEqual({
      event: 'file-transfer',
      direction: 'to-host',
      path: target,
      bytes: half,
      sha256: sha256(data.subarray(0, half)),
      complete: false,
    })

    // The resume, as the header comment of sftp-server.ts describes it.
    const second = await connect()
    const resumed = await call<Buffer>('open the partial', (callback) =>
      second.sftp.open(partialName('big.bin'), 'a', { size: data.length }, callback),
    )
    const { size: arrived } = await call<{ size: number }>('fstat', (callback) =>
      second.sftp.fstat(resumed, callback),
    )
    expect(arrived).toBe(half)
    for (let offset = arrived; offset < data.length; offset += chunk) {
      await writeAt(second.sftp, resumed, data.subarray(offset, offset + chunk), offset)
    }
    await call('close', (callback) => second.sftp.close(resumed, callback))

    expect(sha256(fs.readFileSync(target))).toBe(sha256(data))
    expect(fs.existsSync(partial)).toBe(false)
    expect(asks.map((ask) => ask.summary)).toEqual([
      `put a file on this computer: big.bin into ${home}`,
      `finish putting a file on this computer: big.bin (2.0 MiB) into ${home}`,
    ])
    expect(activity[1]).toEqual({
      event: 'file-transfer',
      direction: 'to-host',
      path: target,
      bytes: data.length,
      sha256: sha256(data),
      complete: true,
    })
  })

  it('replaces an existing file, keeping its mode, and refuses a second upload of it meanwhile', async () => {
    const target = path.join(home, 'run.sh')
    fs.writeFileSync(target, 'old')
    fs.chmodSync(target, 0o755)
    const data = Buffer.from('#!/bin/sh\necho fixed\n')
    const { sftp } = await connect()

    const handle = await call<Buffer>('open', (callback) => sftp.open('run.sh', 'w', callback))
    const second = await call<unknown>('open again', (callback) => sftp.open('run.sh', 'w', callback)).catch(
      (failure: unknown) => failure,
    )
    await writeAt(sftp, handle, data, 0)
    expect(fs.readFileSync(target, 'utf8')).toBe('old')
    await call('close', (callback) => sftp.close(handle, callback))

    expect(second).toMatchObject({
      code: STATUS_CODE.FAILURE,
      message: `${target} is already being uploaded`,
    })
    expect(fs.readFileSync(target)).toEqual(data)
    expect(fs.statSync(target).mode & 0o777).toBe(0o755)
    expect(fs.readdirSync(home)).toEqual(['run.sh'])
  })

  it('shows a hostile file name escaped in the prompt and the activity, and stores it as named', async () => {
    const hostile = 'evil\u001b[2Jname\u202e.txt'
    const { file, data } = localFile('plain.txt', 100)
    const { sftp } = await connect()

    await call('fastPut', (callback) => sftp.fastPut(file, hostile, callback))

    expect(asks).toHaveLength(1)
    expect(asks[0]?.summary).toBe(`put a file on this computer: evil\\x1b[2Jname\\u202e.txt into ${home}`)
    expect(asks[0]?.detail).toBe(`${home}/evil\\x1b[2Jname\\u202e.txt`)
    expect(activity[0]?.path).toBe(`${home}/evil\\x1b[2Jname\\u202e.txt`)
    for (const text of [asks[0]?.summary, asks[0]?.detail, activity[0]?.path])
      expect(text).not.toMatch(RAW_CONTROL)
    expect(fs.readFileSync(path.join(home, hostile))).toEqual(data)
  })
})

describe('downloads (files.receive)', () => {
  it('sends the right bytes after asking with the real path and size', async () => {
    const data = randomBytes(300 * 1024)
    fs.writeFileSync(path.join(home, 'report.bin'), data)
    const { sftp } = await connect()
    const destination = path.join(local, 'report.bin')

    await call('fastGet', (callback) => sftp.fastGet('report.bin', destination, callback))

    expect(fs.readFileSync(destination)).toEqual(data)
    expect(asks).toEqual([
      {
        permission: 'files.receive',
        summary: `copy a file from this computer: report.bin (300.0 KiB) from ${home}`,
        detail: path.join(home, 'report.bin'),
      },
    ])
    expect(activity).toEqual([
      {
        event: 'file-transfer',
        direction: 'from-host',
        path: path.join(home, 'report.bin'),
        bytes: data.length,
        sha256: sha256(data),
        complete: true,
      },
    ])
  })

  it('asks about the file a link points to, not the link', async () => {
    fs.mkdirSync(path.join(home, 'secret'))
    fs.writeFileSync(path.join(home, 'secret', 'key'), 'private')
    fs.symlinkSync(path.join(home, 'secret', 'key'), path.join(home, 'innocent.txt'))
    answer = () => false
    const { sftp } = await connect()

    const error = await call<unknown>('readFile', (callback) =>
      sftp.readFile('innocent.txt', callback),
    ).catch((failure: unknown) => failure)

    expect(error).toMatchObject({ code: STATUS_CODE.PERMISSION_DENIED })
    expect(asks[0]?.detail).toBe(path.join(home, 'secret', 'key'))
    expect(activity).toEqual([])
  })
})

describe('browsing (files.browse)', () => {
  it('lists a folder after asking files.browse, and refuses when denied', async () => {
    fs.mkdirSync(path.join(home, 'docs'))
    fs.writeFileSync(path.join(home, 'docs', 'a.txt'), 'a')
    fs.writeFileSync(path.join(home, 'docs', 'b.txt'), 'bb')
    fs.mkdirSync(path.join(home, 'private'))
    answer = (ask) => ask.detail !== path.join(home, 'private')
    const { sftp } = await connect()

    const list = await call<{ filename: string; attrs: { size: number } }[]>('readdir', (callback) =>
      sftp.readdir('docs', callback),
    )
    const denied = await call<unknown>('readdir', (callback) => sftp.readdir('private', callback)).catch(
      (failure: unknown) => failure,
    )

    expect(list.map((entry) => [entry.filename, entry.attrs.size]).sort()).toEqual([
      ['a.txt', 1],
      ['b.txt', 2],
    ])
    expect(denied).toMatchObject({ code: STATUS_CODE.PERMISSION_DENIED, message: DENIED_MESSAGE })
    expect(asks).toEqual([
      {
        permission: 'files.browse',
        summary: `list a folder on this computer: ${path.join(home, 'docs')}`,
        detail: path.join(home, 'docs'),
      },
      {
        permission: 'files.browse',
        summary: `list a folder on this computer: ${path.join(home, 'private')}`,
        detail: path.join(home, 'private'),
      },
    ])
  })

  it('answers where "." is without asking, and asks for anything else', async () => {
    fs.writeFileSync(path.join(home, 'notes.txt'), 'hello')
    const { sftp } = await connect()

    const start = await call<string>('realpath', (callback) => sftp.realpath('.', callback))
    expect(start).toBe(home)
    expect(asks).toEqual([])

    const stats = await call<{ size: number }>('stat', (callback) => sftp.stat('notes.txt', callback))
    expect(stats.size).toBe(5)
    const missing = await call<unknown>('stat', (callback) => sftp.stat('nothing-here', callback)).catch(
      (failure: unknown) => failure,
    )
    expect(missing).toMatchObject({ code: STATUS_CODE.NO_SUCH_FILE })
    expect(asks.map((ask) => [ask.permission, ask.summary])).toEqual([
      ['files.browse', `look at a file on this computer: ${path.join(home, 'notes.txt')}`],
      ['files.browse', `look at a file on this computer: ${path.join(home, 'nothing-here')}`],
    ])
  })

  it('asks once per distinct request on a channel', async () => {
    fs.mkdirSync(path.join(home, 'docs'))
    const { sftp } = await connect()

    for (let i = 0; i < 3; i++) await call<unknown>('readdir', (callback) => sftp.readdir('docs', callback))

    expect(asks).toHaveLength(1)
  })
})

describe('reading and writing through one handle (sshfs opens files so for sed -i)', () => {
  it('writes a new file under files.send alone and reads back what it wrote', async () => {
    const { sftp } = await connect()
    const handle = await call<Buffer>('open', (callback) =>
      sftp.open('both.txt', OPEN_MODE.READ | OPEN_MODE.WRITE | OPEN_MODE.CREAT | OPEN_MODE.EXCL, callback),
    )
    await call('write', (callback) => sftp.write(handle, Buffer.from('hello'), 0, 5, 0, callback))
    const back = Buffer.alloc(5)
    const read = await call<number>('read', (callback) => sftp.read(handle, back, 0, 5, 0, callback))
    expect(back.subarray(0, read).toString()).toBe('hello')
    await call('close', (callback) => sftp.close(handle, callback))
    expect(fs.readFileSync(path.join(home, 'both.txt'), 'utf8')).toBe('hello')
    expect(asks.map((ask) => ask.permission)).toEqual(['files.send'])
  })

  it("asks files.receive too when it starts from the end user's file, and opens nothing when refused", async () => {
    fs.writeFileSync(path.join(home, 'theirs.txt'), 'private')
    answer = (ask) => ask.permission !== 'files.receive'
    const { sftp } = await connect()
    const error = await call<unknown>('open', (callback) =>
      sftp.open('theirs.txt', OPEN_MODE.READ | OPEN_MODE.WRITE, callback),
    ).catch((failure: unknown) => failure)
    expect(error).toMatchObject({ code: STATUS_CODE.PERMISSION_DENIED })
    expect(asks.map((ask) => ask.permission)).toEqual(['files.send', 'files.receive'])
    expect(fs.readdirSync(home).sort()).toEqual(['theirs.txt'])
  })
})

describe("OpenSSH's extensions and links, each under its permission", () => {
  it('announces posix-rename, statvfs, hardlink and fsync, and asks files.modify or files.browse for each', async () => {
    fs.writeFileSync(path.join(home, 'a.txt'), 'alpha')
    fs.writeFileSync(path.join(home, 'b.txt'), 'bravo')
    const { sftp } = await connect()
    // Like sshd, the host reads the link's target first, as OpenSSH's clients, paramiko and sshfs send
    // it; ssh2's client, seeing no OpenSSH server, sends the link first: its arguments are swapped here.
    await call('symlink', (callback) => sftp.symlink(path.join(home, 'link'), 'a.txt', callback))
    expect(fs.readlinkSync(path.join(home, 'link'))).toBe('a.txt')
    await call('hardlink', (callback) =>
      sftp.ext_openssh_hardlink(path.join(home, 'a.txt'), path.join(home, 'hard'), callback),
    )
    expect(fs.statSync(path.join(home, 'a.txt')).nlink).toBe(2)
    await call('posix-rename', (callback) =>
      sftp.ext_openssh_rename(path.join(home, 'a.txt'), path.join(home, 'b.txt'), callback),
    )
    expect(fs.readFileSync(path.join(home, 'b.txt'), 'utf8')).toBe('alpha')
    const disk = await call<{ f_bsize: number; f_blocks: number }>('statvfs', (callback) =>
      sftp.ext_openssh_statvfs(home, callback as never),
    )
    expect(disk.f_bsize).toBeGreaterThan(0)
    expect(disk.f_blocks).toBeGreaterThan(0)
    expect(asks.map((ask) => [ask.permission, ask.summary.split(' on this computer')[0]])).toEqual([
      ['files.modify', 'create a symbolic link'],
      ['files.modify', 'create a hard link'],
      ['files.modify', 'rename a file'],
      ['files.browse', 'look at the disk space'],
    ])
    expect(asks[2]!.summary).toContain('replacing the file there')
  })

  it('creates no link and replaces nothing when the end user says no', async () => {
    fs.writeFileSync(path.join(home, 'a.txt'), 'alpha')
    fs.writeFileSync(path.join(home, 'b.txt'), 'bravo')
    answer = () => false
    const { sftp } = await connect()
    const denied = (error: unknown) => expect(error).toMatchObject({ code: STATUS_CODE.PERMISSION_DENIED })
    denied(
      await call('symlink', (cb) => sftp.symlink(path.join(home, 'link'), 'a.txt', cb)).catch(
        (e: unknown) => e,
      ),
    )
    denied(
      await call('rename', (cb) =>
        sftp.ext_openssh_rename(path.join(home, 'a.txt'), path.join(home, 'b.txt'), cb),
      ).catch((e: unknown) => e),
    )
    expect(fs.readdirSync(home).sort()).toEqual(['a.txt', 'b.txt'])
    expect(fs.readFileSync(path.join(home, 'b.txt'), 'utf8')).toBe('bravo')
  })
})
