/**
 * The differential test of `rescue connect --listen` (issue 16): one table of client operations,
 * each run by real clients nobody here wrote (OpenSSH's ssh, scp and sftp, rsync, lftp, sshfs,
 * paramiko) against a private OpenSSH sshd on loopback and against a live session in the same
 * test, comparing what a user sees: exit codes, output (paths and pty numbers aside) and the file
 * trees left behind (names, bytes, modes, link counts, link targets and set times). Every row runs
 * in a fresh pair of identical folders. The host allows every permission up front, as an end user
 * saying yes to each prompt would.
 */
import { execa } from 'execa'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CliWorld, type CliProcess } from './cli.js'
import { startPrivateSshd, type PrivateSshd } from './sshd.js'

const ADMIN = {
  email: 'erin@acme.example',
  password: 'a long and winding passphrase',
  name: 'Erin Ng',
  organisation: 'Acme IT',
}
const ALL = 'exec,shell,files.send,files.receive,files.browse,files.modify'
/** Times set on everything seeded, so `ls -l` and trees can compare them exactly. */
const SEEDED_TIME = 1_700_000_000
const has = (tool: string) =>
  execa('sh', ['-c', `command -v ${tool}`], { reject: false }).then((r) => r.exitCode === 0)

interface Side {
  name: 'sshd' | 'rescue'
  port: number
  user: string
  key: string
  /** ssh options, the port aside. */
  options: string[]
  /** Each row's folders live here. */
  root: string
}

let world: CliWorld
let sshd: PrivateSshd
let host: CliProcess
let auditLog: string
const sides: Side[] = []
let tools: Record<'lftp' | 'sshfs' | 'paramiko' | 'rsync', boolean>

const sshOptions = (key: string, knownHosts = '/dev/null') => [
  '-F',
  '/dev/null',
  '-i',
  key,
  '-o',
  'IdentitiesOnly=yes',
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  `UserKnownHostsFile=${knownHosts}`,
  '-o',
  'BatchMode=yes',
  '-o',
  'LogLevel=ERROR',
]

beforeAll(async () => {
  world = new CliWorld()
  const url = await world.startLoggedIn(ADMIN)
  sshd = await startPrivateSshd(world.dir('sshd'))
  sides.push({
    name: 'sshd',
    port: sshd.port,
    user: sshd.user,
    key: sshd.clientKey,
    options: sshOptions(sshd.clientKey),
    root: world.dir('side-a'),
  })
  const { pin } = await world.newPin()
  auditLog = path.join(world.dir('audit'), 'audit.jsonl')
  host = world.spawn(
    'host',
    ['host', '--server', url, '--pin', pin, '--json', '--auto-approve', ALL, '--trust-gateway'],
    { env: { HOME: world.dir('home'), SHELL: '/bin/sh', RESCUE_AUDIT_LOG: auditLog } },
  )
  await host.waitForEvent('waiting')
  const technician = world.spawn('connect', ['connect', '--pin', pin, '--listen', '0', '--json'])
  const ready = await technician.waitForEvent('listening')
  const ssh = (ready.ssh as string).split(' ')
  const key = ssh[ssh.indexOf('-i') + 1]!
  sides.push({
    name: 'rescue',
    port: ready.port as number,
    user: 'rescue',
    key,
    options: sshOptions(key),
    root: world.dir('side-b'),
  })
  tools = {
    lftp: await has('lftp'),
    sshfs: (await has('sshfs')) && fs.existsSync('/dev/fuse'),
    paramiko: (await execa('/usr/bin/python3', ['-c', 'import paramiko'], { reject: false })).exitCode === 0,
    rsync: await has('rsync'),
  }
  if (!fs.existsSync('/dev/fuse')) console.log('sshfs rows skipped: /dev/fuse is missing on this machine')
}, 60_000)

afterAll(async () => {
  await sshd?.stop()
  await world?.dispose()
})

/** The same files on both sides: R (the remote folder) and L (the local one), all times set. */
function seed(base: string): { R: string; L: string } {
  const R = path.join(base, 'remote')
  const L = path.join(base, 'local')
  const big = Buffer.alloc(1_000_000)
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251
  const files: Record<string, string | Buffer> = {
    [`${R}/a.txt`]: 'alpha\n',
    [`${R}/b.txt`]: 'bravo\n',
    [`${R}/sub/c.txt`]: 'charlie\n',
    [`${R}/exec.sh`]: '#!/bin/sh\necho hi\n',
    [`${R}/big.bin`]: big,
    [`${L}/up.txt`]: 'uploaded\n',
    [`${L}/big.bin`]: big.subarray(0, 400_000),
    [`${L}/full.bin`]: big,
  }
  for (let i = 0; i < 120; i++) files[`${L}/many/d${i % 4}/f${i}.txt`] = `file ${i}\n`.repeat(i % 7)
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, content)
  }
  fs.chmodSync(`${R}/exec.sh`, 0o755)
  const touch = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) touch(full)
      fs.utimesSync(full, SEEDED_TIME, SEEDED_TIME)
    }
  }
  touch(base)
  fs.utimesSync(base, SEEDED_TIME, SEEDED_TIME)
  return { R, L }
}

/** Every entry under `dir`: type, mode, size, content hash, link target and count, and set times. */
function tree(dir: string, since: number): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (at: string) => {
    for (const name of fs.readdirSync(at).sort()) {
      const full = path.join(at, name)
      const stats = fs.lstatSync(full)
      const time = stats.mtimeMs / 1000 < since ? String(Math.floor(stats.mtimeMs / 1000)) : 'new'
      const mode = (stats.mode & 0o7777).toString(8)
      const relative = path.relative(dir, full)
      if (stats.isSymbolicLink()) out[relative] = `link -> ${fs.readlinkSync(full).replace(dir, '<R>')}`
      else if (stats.isDirectory()) {
        out[relative] = `dir ${mode} ${time}`
        walk(full)
      } else {
        const hash = crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex').slice(0, 12)
        out[relative] = `file ${mode} ${stats.size} ${hash} links=${stats.nlink} ${time}`
      }
    }
  }
  walk(dir)
  return out
}

interface Outcome {
  exitCode: number | undefined
  output: string
  remote: Record<string, string>
  local: Record<string, string>
}

interface Row {
  name: string
  /** A bash script; $SSH, $SCP, $SFTP, $RSH, $DEST, $PORT, $KEY, $RUSER, $R and $L are set. */
  script: string
  needs?: keyof typeof tools
  /** Compare the output too (most rows); false when it holds numbers of the moment (df's). */
  output?: boolean | ((text: string) => string)
  /** Extra checks on the rescue side once the row ran. */
  after?: (outcome: Outcome, dirs: { R: string; L: string }) => Promise<void> | void
}

async function runRow(row: Row, side: Side, index: number): Promise<Outcome> {
  const base = path.join(side.root, `row${index}`)
  const { R, L } = seed(base)
  const since = Date.now() / 1000 - 5
  const ssh = `ssh -p ${side.port} ${side.options.join(' ')}`
  const env = {
    SSH: ssh,
    RSH: ssh,
    SCP: `scp -P ${side.port} ${side.options.join(' ')}`,
    SFTP: `sftp -P ${side.port} ${side.options.join(' ')}`,
    SSHOPTS: side.options.join(' '),
    DEST: `${side.user}@127.0.0.1`,
    PORT: String(side.port),
    KEY: side.key,
    RUSER: side.user,
    R,
    L,
    MNT: path.join(base, 'mnt'),
  }
  fs.mkdirSync(env.MNT)
  // Making the mount point moved the row's folder's time: `ls -la` shows it as `..`, and the two
  // sides' listings differed whenever the minute turned between them.
  fs.utimesSync(base, SEEDED_TIME, SEEDED_TIME)
  const result = await execa('bash', ['-c', `set -o pipefail\n${row.script}`], {
    env,
    reject: false,
    timeout: 120_000,
    all: true,
    stdin: 'ignore',
  })
  const output = String(result.all ?? '')
    .replaceAll(R, '<R>')
    .replaceAll(L, '<L>')
    .replaceAll(base, '<BASE>')
    .replace(/\/dev\/pts\/\d+/g, '/dev/pts/N')
  return {
    exitCode: result.exitCode,
    output: typeof row.output === 'function' ? row.output(output) : output,
    remote: tree(R, since),
    local: tree(L, since),
  }
}

const SFTP_BATCH = (lines: string) => `$SFTP -b - $DEST <<EOF\n${lines}\nEOF`

const ROWS: Row[] = [
  {
    name: 'sftp batch: mkdir, put -p, get -p, ls, rm',
    script: SFTP_BATCH(
      'mkdir $R/new\nput -p $L/up.txt $R/new/up.txt\nget -p $R/a.txt $L/a.txt\nls $R/new\nrm $R/b.txt',
    ),
  },
  {
    name: 'sshfs: touch, echo >, cp, cp -r of 101 files, dd, sed -i, ln -s, mv onto a file, df',
    needs: 'sshfs',
    script: [
      `sshfs -o ssh_command="ssh $SSHOPTS" -p $PORT $DEST:$R $MNT || exit 9`,
      'trap "fusermount -u $MNT" EXIT',
      'touch $MNT/touched',
      'echo hello > $MNT/new.txt',
      'cp $L/up.txt $MNT/copied.txt',
      'mkdir $L/hundred && for i in $(seq 0 100); do echo $i > $L/hundred/$i; done',
      'cp -r $L/hundred $MNT/hundred',
      'dd if=$L/full.bin of=$MNT/dd.bin bs=64k status=none',
      "sed -i 's/alpha/ALPHA/' $MNT/a.txt",
      'ln -s a.txt $MNT/link',
      'mv $MNT/b.txt $MNT/sub/c.txt',
      'readlink $MNT/link; cat $MNT/link; ls $MNT/hundred | wc -l',
      'df $MNT > /dev/null && echo df ok',
      'rm -rf $L/hundred',
    ].join('\n'),
  },
  {
    name: 'ssh -t on a terminal: an exec with a pty gets a terminal of its size',
    script:
      'script -qec "stty rows 40 cols 100; $SSH -t $DEST \'tty; stty size; test -t 0 && echo stdin is a tty\'" /dev/null < /dev/null',
    // script(1) passes its stdin's end on as a NUL, which the terminal echoes as "^@" wherever the
    // output happens to be at that moment: on either side, so it is not part of the comparison.
    output: (text) => text.replaceAll('^@', ''),
  },
  {
    name: 'sftp symlink, ln -s and readlink through ls -l',
    script: SFTP_BATCH('symlink a.txt $R/link\nln -s $R/sub $R/sublink\nget $R/link $L/through-link'),
  },
  {
    name: 'sftp ln: hardlink@openssh.com',
    script: SFTP_BATCH('ln $R/a.txt $R/hard'),
  },
  {
    name: 'sftp df: statvfs@openssh.com',
    script: SFTP_BATCH('df $R\ndf -i $R'),
    output: (text) => text.replace(/\d+/g, 'N').replace(/ +/g, ' '),
  },
  {
    name: 'sftp rename onto an existing file (posix-rename@openssh.com), and a legacy rename',
    script: SFTP_BATCH('rename $R/a.txt $R/b.txt\n-rename -l $R/sub/c.txt $R/exec.sh'),
  },
  {
    name: 'env: LANG and LC_* pass (SendEnv, SetEnv), the rest does not',
    script:
      'LANG=C.UTF-8 LC_TIME=C FOO=bar $SSH -o SendEnv=LANG -o "SendEnv=LC_*" -o SendEnv=FOO -o "SetEnv=LC_PAPER=C BAR=baz" $DEST \'echo "[$LANG][$LC_TIME][$LC_PAPER][$FOO][$BAR]"\'',
    // The end user's audit log names both: the locale passed on with its value, the rest refused by name alone.
    after: () => {
      const lines = fs.readFileSync(auditLog, 'utf8').trim().split('\n')
      const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
      const passed = entries.filter((entry) => entry.event === 'env').map((e) => `${e.name}=${e.value}`)
      expect(passed).toEqual(expect.arrayContaining(['LANG=C.UTF-8', 'LC_TIME=C', 'LC_PAPER=C']))
      const refused = entries.filter((entry) => entry.event === 'refused').map((entry) => entry.request)
      expect(refused).toEqual(
        expect.arrayContaining(['the environment variable FOO', 'the environment variable BAR']),
      )
      expect(lines.filter((line) => /"(FOO|BAR)=|\bbaz\b|=bar\b/.test(line))).toEqual([])
    },
  },
  {
    name: 'sftp ls -l: longname with the setuid bit, link counts, . and ..',
    script: '$SSH $DEST "chmod 4755 $R/exec.sh"\n' + SFTP_BATCH('ls -la $R\nls -l $R/sub'),
  },
  {
    name: 'lftp: ls, ln -s, get',
    needs: 'lftp',
    script: `lftp -c "set sftp:connect-program 'ssh -a -x $SSHOPTS'; open -u $RUSER, -p $PORT sftp://127.0.0.1; cd $R; ls; ln -s a.txt lftplink; get -O $L sub/c.txt"`,
    output: (text) => text.replace(/^(\S+)\s+(\d+)\s+\S+\s+\S+/gm, '$1 $2'),
  },
  {
    name: 'sftp reget and reput: resumed transfers',
    script: SFTP_BATCH(
      'reget $R/big.bin $L/big.bin\nput $L/up.txt $R/half.bin\nreput $L/full.bin $R/half.bin',
    ),
    after: () => {
      const lines = fs
        .readFileSync(auditLog, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
      const resumed = lines.filter(
        (line) =>
          line.event === 'file-transfer' && line.direction === 'from-host' && /big\.bin$/.test(line.path),
      )
      const whole = crypto
        .createHash('sha256')
        .update(fs.readFileSync(`${resumed.at(-1).path}`))
        .digest('hex')
      expect(resumed.at(-1)).toMatchObject({ bytes: 1_000_000, sha256: whole, complete: true, from: 400_000 })
    },
  },
  {
    name: 'scp -r of 120 small files, both protocols',
    script:
      '$SCP -r $L/many $DEST:$R/many && $SCP -O -r $L/many $DEST:$R/legacy && $SCP -r $DEST:$R/sub $L/back',
  },
  {
    name: 'scp -p keeps modes and times',
    script: 'chmod 640 $L/up.txt && $SCP -p $L/up.txt $DEST:$R/kept.txt && $SCP -p $DEST:$R/exec.sh $L/',
  },
  {
    name: 'rsync -a there and back; a second run sends nothing',
    needs: 'rsync',
    script:
      'rsync -a -e "$RSH" $L/many/ $DEST:$R/many/ && rsync -ai -e "$RSH" $L/many/ $DEST:$R/many/ && rsync -a -e "$RSH" $DEST:$R/sub/ $L/sub/',
  },
  {
    name: 'ssh: exit codes and both streams',
    // stderr kept in a file and shown after: two pipes read at once have no order between them.
    script:
      'e=$(mktemp); $SSH $DEST "echo out; echo err >&2; exit 3" 2>"$e"; echo "exit=$?"; cat "$e"; rm -f "$e"; echo piped | $SSH $DEST cat',
  },
  {
    name: 'paramiko: symlink, readlink, posix_rename, statvfs, listdir_attr',
    needs: 'paramiko',
    script: `/usr/bin/python3 - <<'EOF'
import os, paramiko
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect('127.0.0.1', port=int(os.environ['PORT']), username=os.environ['RUSER'], key_filename=os.environ['KEY'], look_for_keys=False, allow_agent=False)
s = c.open_sftp()
R = os.environ['R']
s.symlink('a.txt', R + '/plink')
print('readlink', s.readlink(R + '/plink'))
s.posix_rename(R + '/a.txt', R + '/b.txt')
v = s.statvfs(R)
print('statvfs', v.f_bsize > 0, v.f_blocks > 0)
for a in sorted(s.listdir_attr(R), key=lambda a: a.filename):
    print(a.filename, oct(a.st_mode), a.st_size)
c.close()
EOF`,
  },
]

/** What `ssh` at LogLevel DEBUG says the server announced as server-sig-algs, split at commas. */
async function serverSigAlgs(side: Side): Promise<string[]> {
  const verbose = await execa(
    'ssh',
    // ssh takes the first LogLevel it is given: the sides' own (ERROR) goes.
    [
      '-p',
      String(side.port),
      ...side.options.slice(0, -2),
      '-o',
      'LogLevel=DEBUG',
      `${side.user}@127.0.0.1`,
      'true',
    ],
    { reject: false, all: true, timeout: 30_000, stdin: 'ignore' },
  )
  const line = /server-sig-algs[=:] ?<([^>]*)>/.exec(String(verbose.all ?? ''))?.[1]
  return line === undefined ? [] : line.split(',')
}

describe('OpenSSH tools through rescue connect --listen behave as against sshd', () => {
  // Row 13 of issue 16: ssh2's server joins two names with no comma (lib/protocol/Protocol.js,
  // sendExtInfo); the bundle mends it (scripts/bundle.mjs). Each side offers its own algorithms, so
  // the lists differ: what must match is that both are lists of names an OpenSSH client can read.
  it('server-sig-algs: a well-formed list of names, as sshd announces', async () => {
    const [reference, rescue] = [await serverSigAlgs(sides[0]!), await serverSigAlgs(sides[1]!)]
    expect(reference.length).toBeGreaterThan(3)
    for (const name of [...reference, ...rescue]) expect(name).toMatch(/^[a-z0-9@.-]+$/)
    for (const name of ['ssh-ed25519', 'ecdsa-sha2-nistp521', 'rsa-sha2-512']) expect(rescue).toContain(name)
  })

  ROWS.forEach((row, index) => {
    it(
      row.name,
      async (context) => {
        if (row.needs && !tools[row.needs]) {
          console.log(`skipped "${row.name}": ${row.needs} is not installed here`)
          return context.skip()
        }
        const [reference, rescue] = [await runRow(row, sides[0]!, index), await runRow(row, sides[1]!, index)]
        if (row.output === false) {
          reference.output = ''
          rescue.output = ''
        }
        expect(rescue).toEqual(reference)
        await row.after?.(rescue, { R: '', L: '' })
      },
      180_000,
    )
  })
})
