/**
 * System information about the end user's machine (issue 4): collected on the host with
 * `systeminformation`, sent to the technician as JSON over the `sysinfo@rescue` SSH subsystem
 * (see subsystem.ts), decoded there as hostile input and drawn as a readable report.
 *
 * Owns: the wire shape and its schema, collection, decoding, the text report.
 * May import: systeminformation, zod, ../errors, ../text. Never oclif or ink.
 */
import { userInfo } from 'node:os'
import si from 'systeminformation'
import { z } from 'zod'
import { UserError } from '../errors.js'
import { sanitizeForTerminal } from '../text/sanitize.js'

/** The SSH subsystem name the host serves system information under. */
export { SYSINFO_SUBSYSTEM } from '../ssh/subsystems.js'

/** How long the host spends collecting before it sends what it has. */
export const COLLECT_TIMEOUT_MS = 10_000

const TOP_PROCESSES = 10

// Bounds on what the other side may send: generous for any real machine, small enough that a
// hostile host cannot make the technician's side draw megabytes of one field.
const text = z.string().max(4096)
const count = z.number().int().nonnegative()
const bytes = z.number().nonnegative()
const percent = z.number().min(0).max(100_000)
const list = <T extends z.ZodType>(item: T) => z.array(item).max(10_000)

export const systemInfoSchema = z.object({
  os: z
    .object({
      platform: text,
      distro: text,
      release: text,
      kernel: text,
      arch: text,
      hostname: text,
      /** The account `rescue host` runs as: with the hostname, the computer the technician is helping. */
      user: text.optional(),
    })
    .optional(),
  cpu: z
    .object({
      brand: text,
      cores: count,
      physicalCores: count,
      speedGHz: z.number().nonnegative(),
      loadPercent: percent.optional(),
    })
    .optional(),
  memory: z
    .object({
      totalBytes: bytes,
      usedBytes: bytes,
      availableBytes: bytes,
      swapTotalBytes: bytes,
      swapUsedBytes: bytes,
    })
    .optional(),
  disks: list(
    z.object({ mount: text, fs: text, type: text, sizeBytes: bytes, usedBytes: bytes, usePercent: percent }),
  ),
  network: list(z.object({ iface: text, ip4: text, ip6: text, mac: text, up: z.boolean() })),
  uptimeSeconds: z.number().nonnegative().optional(),
  processes: z
    .object({
      total: count,
      running: count,
      top: list(z.object({ pid: count, name: text, user: text, cpuPercent: percent, memPercent: percent })),
    })
    .optional(),
  users: list(z.object({ user: text, terminal: text, loggedInAt: text, from: text })),
})

/** What the host reports about itself; a part it could not collect in time is absent or empty. */
export type SystemInfo = z.infer<typeof systemInfoSchema>

/** Collects this machine's system information; each part that fails or is late is left out. */
export async function collectSystemInfo(timeoutMs = COLLECT_TIMEOUT_MS): Promise<SystemInfo> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs)
  })
  // Each part settles on its own: one slow or failing probe must not cost the others.
  const part = <T>(probe: () => Promise<T>): Promise<T | undefined> =>
    Promise.race([
      Promise.resolve()
        .then(probe)
        .catch(() => undefined),
      deadline,
    ])
  try {
    const [os, cpu, load, mem, disks, network, time, processes, users] = await Promise.all([
      part(() => si.osInfo()),
      part(() => si.cpu()),
      part(() => si.currentLoad()),
      part(() => si.mem()),
      part(() => si.fsSize()),
      part(() => si.networkInterfaces()),
      part(() => Promise.resolve(si.time())),
      part(() => si.processes()),
      part(() => si.users()),
    ])
    const info: SystemInfo = {
      disks: (Array.isArray(disks) ? disks : []).map((disk) => ({
        mount: str(disk.mount),
        fs: str(disk.fs),
        type: str(disk.type),
        sizeBytes: num(disk.size),
        usedBytes: num(disk.used),
        usePercent: num(disk.use),
      })),
      network: (Array.isArray(network) ? network : []).map((nic) => ({
        iface: str(nic.iface),
        ip4: str(nic.ip4),
        ip6: str(nic.ip6),
        mac: str(nic.mac),
        // Linux reports loopback and tunnels as `unknown` while they carry traffic.
        up: nic.operstate === 'up' || nic.operstate === 'unknown',
      })),
      users: (users ?? []).map((user) => ({
        user: str(user.user),
        terminal: str(user.tty),
        loggedInAt: str([user.date, user.time].filter(Boolean).join(' ')),
        from: str(user.ip),
      })),
    }
    if (os) {
      const { platform, distro, release, kernel, arch, hostname } = os
      info.os = {
        platform: str(platform),
        distro: str(distro),
        release: str(release),
        kernel: str(kernel),
        arch: str(arch),
        hostname: str(hostname),
        user: str(currentUser()),
      }
    }
    if (cpu) {
      info.cpu = {
        brand: [cpu.manufacturer, cpu.brand].filter(Boolean).join(' '),
        cores: num(cpu.cores),
        physicalCores: num(cpu.physicalCores),
        speedGHz: num(cpu.speed),
        ...(load ? { loadPercent: round(num(load.currentLoad)) } : {}),
      }
    }
    if (mem) {
      info.memory = {
        totalBytes: num(mem.total),
        // `used` counts the page cache on Linux; `active` is what a person means by used.
        usedBytes: num(mem.active),
        availableBytes: num(mem.available),
        swapTotalBytes: num(mem.swaptotal),
        swapUsedBytes: num(mem.swapused),
      }
    }
    if (time) info.uptimeSeconds = num(time.uptime)
    if (processes) {
      info.processes = {
        total: num(processes.all),
        running: num(processes.running),
        top: (Array.isArray(processes.list) ? [...processes.list] : [])
          .sort((a, b) => num(b.cpu) - num(a.cpu))
          .slice(0, TOP_PROCESSES)
          .map((process) => ({
            pid: num(process.pid),
            name: str(process.name),
            user: str(process.user),
            cpuPercent: round(num(process.cpu)),
            memPercent: round(num(process.mem)),
          })),
      }
    }
    // Through the schema so the host never sends what the technician's side would refuse.
    return systemInfoSchema.parse(info)
  } finally {
    clearTimeout(timer)
  }
}

function str(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, 4096) : ''
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}

/** Decodes the host's JSON; anything malformed is a `UserError('failure')`, never another error. */
export function decodeSystemInfo(data: Uint8Array): SystemInfo {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data))
  } catch {
    throw new UserError('failure', 'the host sent system information that is not JSON')
  }
  const parsed = systemInfoSchema.safeParse(value)
  if (!parsed.success) throw new UserError('failure', 'the host sent system information in an unknown shape')
  return parsed.data
}

/** Formats a byte count with binary units: `512 B`, `1.5 KiB`, `3.2 GiB`. */
export function formatBytes(value: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let size = value
  let unit = 0
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024
    unit++
  }
  return unit === 0 ? `${size} B` : `${size.toFixed(1)} ${units[unit]}`
}

function formatDuration(seconds: number): string {
  const days = Math.floor(seconds / 86_400)
  const hours = Math.floor((seconds % 86_400) / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  return days > 0 ? `${days}d ${hours}h ${minutes}m` : `${hours}h ${minutes}m`
}

/** Host text made safe for the technician's terminal, and short enough for a column. */
function safe(value: string, maxLength = 60): string {
  return sanitizeForTerminal(value, maxLength) || '-'
}

/** Rows with each column padded to its widest cell; the last column is not padded. */
function table(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows]
  const widths = header.map((_, column) => Math.max(...all.map((row) => [...(row[column] ?? '')].length)))
  return all.map(
    (row) =>
      '  ' +
      row
        .map((cell, column) =>
          column === row.length - 1 ? cell : cell + ' '.repeat((widths[column] ?? 0) - [...cell].length),
        )
        .join('  '),
  )
}

function section(title: string, lines: string[], empty = '(not available)'): string[] {
  return [title, ...(lines.length > 0 ? lines : [`  ${empty}`]), '']
}

function currentUser(): string {
  try {
    return userInfo().username
  } catch {
    // No entry in the password database (a container's made-up uid): the environment's word for it.
    return process.env.USER ?? process.env.LOGNAME ?? ''
  }
}

/** A readable report of `info`, one line per entry; every string from the host is sanitized. */
export function formatSystemInfo(info: SystemInfo): string[] {
  const { os, cpu, memory, processes } = info
  const system = os
    ? table(
        ['', ''],
        [
          ['Hostname', safe(os.hostname)],
          ...(os.user ? [['User', safe(os.user)]] : []),
          ['OS', safe(`${os.distro} ${os.release}`.trim())],
          ['Platform', safe(`${os.platform} ${os.arch}`.trim())],
          ['Kernel', safe(os.kernel)],
          ...(info.uptimeSeconds === undefined ? [] : [['Uptime', formatDuration(info.uptimeSeconds)]]),
        ],
      ).slice(1)
    : info.uptimeSeconds === undefined
      ? []
      : [`  Uptime  ${formatDuration(info.uptimeSeconds)}`]
  const cpuLines = cpu
    ? table(
        ['', ''],
        [
          ['Model', safe(cpu.brand)],
          ['Cores', `${cpu.cores} logical, ${cpu.physicalCores} physical`],
          ['Speed', cpu.speedGHz > 0 ? `${cpu.speedGHz.toFixed(2)} GHz` : '-'],
          ...(cpu.loadPercent === undefined ? [] : [['Load', `${cpu.loadPercent.toFixed(1)}%`]]),
        ],
      ).slice(1)
    : []
  const memoryLines = memory
    ? table(
        ['', 'Total', 'Used', 'Available'],
        [
          [
            'Memory',
            formatBytes(memory.totalBytes),
            formatBytes(memory.usedBytes),
            formatBytes(memory.availableBytes),
          ],
          [
            'Swap',
            formatBytes(memory.swapTotalBytes),
            formatBytes(memory.swapUsedBytes),
            formatBytes(Math.max(0, memory.swapTotalBytes - memory.swapUsedBytes)),
          ],
        ],
      )
    : []
  const disks =
    info.disks.length > 0
      ? table(
          ['Mount', 'Filesystem', 'Type', 'Size', 'Used', 'Use%'],
          info.disks.map((disk) => [
            safe(disk.mount),
            safe(disk.fs),
            safe(disk.type, 20),
            formatBytes(disk.sizeBytes),
            formatBytes(disk.usedBytes),
            `${disk.usePercent.toFixed(1)}%`,
          ]),
        )
      : []
  const network =
    info.network.length > 0
      ? table(
          ['Interface', 'State', 'IPv4', 'IPv6', 'MAC'],
          info.network.map((nic) => [
            safe(nic.iface, 30),
            nic.up ? 'up' : 'down',
            safe(nic.ip4, 40),
            safe(nic.ip6, 50),
            safe(nic.mac, 30),
          ]),
        )
      : []
  const processLines = processes
    ? [
        `  ${processes.total} processes, ${processes.running} running`,
        ...(processes.top.length > 0
          ? table(
              ['PID', 'CPU%', 'MEM%', 'User', 'Name'],
              processes.top.map((process) => [
                String(process.pid),
                process.cpuPercent.toFixed(1),
                process.memPercent.toFixed(1),
                safe(process.user, 20),
                safe(process.name),
              ]),
            )
          : []),
      ]
    : []
  const users =
    info.users.length > 0
      ? table(
          ['User', 'Terminal', 'Since', 'From'],
          info.users.map((user) => [
            safe(user.user, 30),
            safe(user.terminal, 20),
            safe(user.loggedInAt, 30),
            safe(user.from, 50),
          ]),
        )
      : []
  const lines = [
    ...section('System', system),
    ...section('CPU', cpuLines),
    ...section('Memory', memoryLines),
    ...section('Disks', disks),
    ...section('Network', network),
    ...section('Processes', processLines),
    ...section('Users', users, '(nobody logged in)'),
  ]
  lines.pop()
  return lines.map((line) => line.trimEnd())
}
