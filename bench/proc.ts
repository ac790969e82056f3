/**
 * What another process costs, read from Linux's /proc: its resident memory sampled over a stretch of
 * time (with the kernel's own peak mark), and the CPU time it used.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'

const round = (value: number, digits = 1) => Number(value.toFixed(digits))

export function readStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

/** Resets the kernel's peak-RSS mark (VmHWM) to the current RSS; false where not allowed. */
function resetKernelPeak(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

export interface RssReport {
  rssBeforeMiB: number
  rssPeakMiB: number
  rssGrowthMiB: number
  /** The kernel's own peak (VmHWM) over the stretch, which sampling cannot miss; null if unavailable. */
  kernelPeakMiB: number | null
  rssSamples: number
}

/** Samples a process's VmRSS every `everyMs` until `stop()` is called. */
export function sampleRss(pid: number, everyMs: number): { stop(): RssReport } {
  const before = readStatusKiB(pid, 'VmRSS')
  if (before === undefined) throw new Error(`cannot read /proc/${pid}/status (this benchmark needs Linux)`)
  const kernelPeakReset = resetKernelPeak(pid)
  let peak = before
  let samples = 1
  const timer = setInterval(() => {
    const rss = readStatusKiB(pid, 'VmRSS')
    if (rss === undefined) return
    samples++
    if (rss > peak) peak = rss
  }, everyMs)
  let report: RssReport | undefined
  return {
    stop() {
      if (report) return report
      clearInterval(timer)
      const last = readStatusKiB(pid, 'VmRSS')
      if (last !== undefined && last > peak) peak = last
      const hwm = kernelPeakReset ? readStatusKiB(pid, 'VmHWM') : undefined
      report = {
        rssBeforeMiB: round(before / 1024),
        rssPeakMiB: round(peak / 1024),
        rssGrowthMiB: round((peak - before) / 1024),
        kernelPeakMiB: hwm === undefined ? null : round(hwm / 1024),
        rssSamples: samples,
      }
      return report
    },
  }
}

let ticksPerSecond: number | undefined

/** Clock ticks per second, the unit of /proc/<pid>/stat's CPU times (`getconf CLK_TCK`, almost always 100). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 })
    const value = Number(result.stdout?.trim())
    ticksPerSecond = Number.isInteger(value) && value > 0 ? value : 100
  }
  return ticksPerSecond
}

export interface CpuTimes {
  /** utime + stime of the process itself, in seconds. */
  own: number
  /** stime alone: the part spent in the kernel on the process's behalf (system calls, page faults). */
  kernel: number
  /** cutime + cstime: its children that it has waited for (and their waited-for children), in seconds. */
  children: number
}

/** The CPU time `pid` ('self' for this process) has used so far; undefined once it is gone. */
export function cpuTimes(pid: number | 'self'): CpuTimes | undefined {
  let stat: string
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) may hold spaces and parentheses; the fields after its last ')' do not.
  // They start at field 3 (state), so utime (14), stime, cutime, cstime (17) are indexes 11 to 14.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = (index: number) => Number(fields[index])
  const hz = clockTicks()
  return { own: (ticks(11) + ticks(12)) / hz, kernel: ticks(12) / hz, children: (ticks(13) + ticks(14)) / hz }
}

export interface ProcessCost {
  cpuSeconds: number
  /** The part of cpuSeconds spent in the kernel (stime): socket and file system calls, mostly. */
  cpuKernelSeconds: number
  /** cpuSeconds over the wall time watched, in % of one CPU (200 = two CPUs busy throughout). */
  cpuPercent: number
  rssBeforeMiB: number
  peakRssMiB: number
  /** The kernel's peak mark over the stretch (VmHWM), null where it cannot be reset. */
  kernelPeakMiB: number | null
}

/** Watches a running process from now until `stop()` (the first call; later ones repeat it): its CPU time and its memory, sampled every `everyMs`. */
export function watchProcess(pid: number, everyMs: number): { stop(): ProcessCost } {
  const startedAt = process.hrtime.bigint()
  const cpuBefore = cpuTimes(pid)
  if (cpuBefore === undefined)
    throw new Error(`cannot read /proc/${pid}/stat (is the process still running?)`)
  const rss = sampleRss(pid, everyMs)
  let report: ProcessCost | undefined
  return {
    stop() {
      if (report) return report
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9
      const after = cpuTimes(pid)
      const cpu = (after?.own ?? Number.NaN) - cpuBefore.own
      const memory = rss.stop()
      report = {
        cpuSeconds: round(cpu, 2),
        cpuKernelSeconds: round((after?.kernel ?? Number.NaN) - cpuBefore.kernel, 2),
        cpuPercent: round((cpu / seconds) * 100),
        rssBeforeMiB: memory.rssBeforeMiB,
        peakRssMiB: memory.rssPeakMiB,
        kernelPeakMiB: memory.kernelPeakMiB,
      }
      return report
    },
  }
}

/** All CPUs' time so far from /proc/stat, in ticks: busy (all but idle and iowait) and in total. */
function systemTicks(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = ticks.reduce((sum, value) => sum + value, 0)
  // user nice system idle iowait irq softirq steal: idle and iowait are the CPUs waiting.
  return { busy: total - ticks[3]! - ticks[4]!, total }
}

/**
 * How busy the whole machine was from now until `stop()`: % of all its CPUs' time, whoever used
 * it. Near 100, everything running then (the bench's processes and any other work) was short of CPU.
 */
export function watchMachine(): { stop(): number } {
  const before = systemTicks()
  return {
    stop() {
      const after = systemTicks()
      return round(((after.busy - before.busy) / Math.max(1, after.total - before.total)) * 100)
    },
  }
}
