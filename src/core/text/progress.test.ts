import { describe, expect, it } from 'vitest'
import { cutStart, displayWidth, progressLine } from './progress.js'

const MiB = 1024 * 1024
const figures = {
  label: '/home/alice/projects/a-rather-long-folder-name/backups/disk-image-2026-12-03.iso',
  bytes: 40 * MiB,
  total: 100 * MiB,
  bytesPerSecond: 85.3 * MiB,
}

describe('progressLine', () => {
  it('without a width, shows everything', () => {
    expect(
      progressLine({ label: 'fix.sh', bytes: 4 * MiB, total: 10 * MiB, bytesPerSecond: 85.3 * MiB }),
    ).toBe('fix.sh [########------------]  40% 4.0 MiB / 10.0 MiB 85.3 MiB/s')
  })

  it.each([200, 120, 80, 60, 40, 30, 20, 12, 8, 3, 1])(
    'fits in %i columns with a column to spare, never wrapping',
    (columns) => {
      const line = progressLine(figures, columns)
      expect(displayWidth(line), line).toBeLessThanOrEqual(Math.max(1, columns - 1))
    },
  )

  it('at 80 and 60 columns keeps the bar, the percentage and the end of the name', () => {
    for (const columns of [80, 60]) {
      const line = progressLine(figures, columns)
      expect(line).toMatch(/^….*\.iso \[#+-+\] {2}40% /)
    }
    expect(progressLine(figures, 80)).toContain('85.3 MiB/s')
  })

  it('counts wide characters as two columns', () => {
    const line = progressLine({ ...figures, label: '報告書'.repeat(20) }, 60)
    expect(displayWidth(line)).toBeLessThanOrEqual(59)
  })

  it('an upload of unknown size shows its bytes and speed, within the width', () => {
    const line = progressLine({ label: figures.label, bytes: 3 * MiB, bytesPerSecond: MiB }, 40)
    expect(line).toMatch(/^….* 3\.0 MiB 1\.0 MiB\/s$/)
    expect(displayWidth(line)).toBeLessThanOrEqual(39)
  })
})

describe('cutStart', () => {
  it('keeps the end of the text and marks the cut', () => {
    expect(cutStart('abcdef', 4)).toBe('…def')
    expect(cutStart('abc', 4)).toBe('abc')
  })
})
