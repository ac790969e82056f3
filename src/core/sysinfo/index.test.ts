import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { UserError } from '../errors.js'
import {
  decodeSystemInfo,
  formatBytes,
  formatSystemInfo,
  systemInfoSchema,
  type SystemInfo,
} from './index.js'

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u

const sample: SystemInfo = {
  os: {
    platform: 'linux',
    distro: 'Ubuntu',
    release: '24.04',
    kernel: '6.8.0-45-generic',
    arch: 'x64',
    hostname: 'evil\u001b[2Jhost',
  },
  cpu: { brand: 'Intel Core i7', cores: 8, physicalCores: 4, speedGHz: 2.8, loadPercent: 12.5 },
  memory: {
    totalBytes: 16 * 1024 ** 3,
    usedBytes: 6 * 1024 ** 3,
    availableBytes: 10 * 1024 ** 3,
    swapTotalBytes: 2 * 1024 ** 3,
    swapUsedBytes: 0,
  },
  disks: [
    {
      mount: '/',
      fs: '/dev/sda1',
      type: 'ext4',
      sizeBytes: 500 * 1024 ** 3,
      usedBytes: 120 * 1024 ** 3,
      usePercent: 24,
    },
  ],
  network: [{ iface: 'eth0', ip4: '192.168.1.10', ip6: 'fe80::1', mac: 'aa:bb:cc:dd:ee:ff', up: true }],
  uptimeSeconds: 90_061,
  processes: {
    total: 212,
    running: 2,
    top: [{ pid: 4242, name: 'gnp.exe\u202e', user: 'alice', cpuPercent: 55.5, memPercent: 3.1 }],
  },
  users: [{ user: 'alice', terminal: 'pts/0', loggedInAt: '2024-05-01 09:12', from: '10.0.0.5' }],
}

function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value))
}

describe('the system information report', () => {
  it('has every section, with sizes in binary units and uptime in days', () => {
    const text = formatSystemInfo(sample).join('\n')
    for (const title of ['System', 'CPU', 'Memory', 'Disks', 'Network', 'Processes', 'Users'])
      expect(text).toMatch(new RegExp(`^${title}$`, 'm'))
    expect(text).toContain('16.0 GiB')
    expect(text).toContain('500.0 GiB')
    expect(text).toContain('1d 1h 1m')
    expect(text).toContain('6.8.0-45-generic')
    expect(text).toMatch(/4242\s+55\.5\s+3\.1\s+alice\s+gnp\.exe/)
  })

  it('shows hostile host strings escaped, never raw', () => {
    const lines = formatSystemInfo(sample)
    const text = lines.join('\n')
    expect(text).toContain('evil\\x1b[2Jhost')
    expect(text).toContain('gnp.exe\\u202e')
    for (const line of lines) expect(line).not.toMatch(RAW_CONTROL)
  })

  it('aligns table columns', () => {
    const lines = formatSystemInfo({
      ...sample,
      disks: [
        { mount: '/', fs: 'a', type: 'ext4', sizeBytes: 1, usedBytes: 0, usePercent: 0 },
        { mount: '/very/long/mount', fs: 'b', type: 'xfs', sizeBytes: 1, usedBytes: 0, usePercent: 0 },
      ],
    })
    const rows = lines.filter((line) => /^ {2}\/.* (a|b) /.test(line))
    expect(rows).toHaveLength(2)
    expect(rows[0]?.indexOf(' a ')).toBe(rows[1]?.indexOf(' b '))
  })

  it('says which parts the host could not collect', () => {
    const text = formatSystemInfo({ disks: [], network: [], users: [] }).join('\n')
    expect(text).toMatch(/^Memory\n {2}\(not available\)$/m)
  })

  it('formats sizes with binary units', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(5 * 1024 ** 2)).toBe('5.0 MiB')
  })
})

describe('decoding what the host sent', () => {
  it('round-trips a report', () => {
    expect(decodeSystemInfo(encode(sample))).toEqual(sample)
  })

  it.each([
    ['not JSON', new TextEncoder().encode('{"os":')],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d])],
    ['an array', encode([])],
    ['a missing list', encode({ disks: [], network: [] })],
    ['a string for a number', encode({ ...sample, uptimeSeconds: '5' })],
    ['a negative size', encode({ ...sample, memory: { ...sample.memory, totalBytes: -1 } })],
    ['a huge string', encode({ ...sample, os: { ...sample.os, hostname: 'x'.repeat(100_000) } })],
  ])('rejects %s with a UserError', (_what, data) => {
    expect(() => decodeSystemInfo(data)).toThrow(UserError)
  })

  it('property: arbitrary bytes give a SystemInfo or a UserError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (data) => {
        try {
          expect(systemInfoSchema.safeParse(decodeSystemInfo(data)).success).toBe(true)
        } catch (error) {
          expect(error).toBeInstanceOf(UserError)
        }
      }),
    )
  })

  it('property: arbitrary JSON gives a SystemInfo or a UserError, nothing else', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ disks: fc.jsonValue(), network: fc.jsonValue(), users: fc.jsonValue() }),
        ),
        (value) => {
          try {
            decodeSystemInfo(encode(value))
          } catch (error) {
            expect(error).toBeInstanceOf(UserError)
          }
        },
      ),
    )
  })
})
