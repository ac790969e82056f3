import type { Stats } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { sameFile, TransferLedger } from './ledger.js'

/** The fields of a Stats the ledger looks at. */
function stats(ino: number, size: number, mtimeMs: number, directory = false): Stats {
  return { dev: 1, ino, size, mtimeMs, isDirectory: () => directory } as Stats
}

describe('what the technician may learn the hash of', () => {
  it('nothing, for a file it was neither let read nor wrote', () => {
    const ledger = new TransferLedger()
    expect(ledger.hashable('/home/bob/docs/secret.txt')).toBeUndefined()
  })

  it('a file it was let read, as long as it is the same file', () => {
    const ledger = new TransferLedger()
    ledger.noteReadable('/home/bob/report.pdf', stats(7, 100, 1000))
    const grant = ledger.hashable('/home/bob/report.pdf')
    expect(grant).toMatchObject({ why: 'read' })
    expect(grant?.why === 'read' && grant.identity && sameFile(grant.identity, stats(7, 150, 2000))).toBe(
      true,
    )
    expect(grant?.why === 'read' && grant.identity && sameFile(grant.identity, stats(8, 100, 1000))).toBe(
      false,
    )
  })

  it('anything inside a folder download while it lasts, nothing inside a folder upload', () => {
    const ledger = new TransferLedger()
    const download = new AbortController()
    const upload = new AbortController()
    ledger.notePlan('from-host', '/home/bob/logs', download.signal)
    ledger.notePlan('to-host', '/home/bob/docs', upload.signal)
    expect(ledger.hashable('/home/bob/logs/a/b.log')).toEqual({ why: 'read' })
    expect(ledger.hashable('/home/bob/docs/secret.txt')).toBeUndefined()
    expect(ledger.insideFolderUpload('/home/bob/docs/new')).toBe(true)
    download.abort()
    upload.abort()
    expect(ledger.hashable('/home/bob/logs/a/b.log')).toBeUndefined()
    expect(ledger.insideFolderUpload('/home/bob/docs/new')).toBe(false)
  })

  it('a file it wrote until someone changes it; a folder it made whatever is put in it', () => {
    const ledger = new TransferLedger()
    ledger.noteWritten('/tmp/fix.sh', stats(3, 10, 5000))
    ledger.noteWritten('/tmp/tree', stats(4, 4096, 5000, true))
    expect(ledger.hashable('/tmp/fix.sh')).toMatchObject({ why: 'written' })
    expect(ledger.isWritten('/tmp/fix.sh', stats(3, 10, 5000))).toBe(true)
    expect(ledger.isWritten('/tmp/fix.sh', stats(3, 11, 6000))).toBe(false)
    expect(ledger.isWritten('/tmp/fix.sh', undefined)).toBe(false)
    expect(ledger.isWritten('/tmp/tree', stats(4, 8192, 9000, true))).toBe(true)
  })

  it("the partial file of an upload it was let make, and no other upload's", () => {
    const ledger = new TransferLedger()
    ledger.notePartial('/tmp/.big.iso.rescue-partial')
    expect(ledger.hashable('/tmp/.big.iso.rescue-partial')).toEqual({ why: 'partial' })
    expect(ledger.hashable('/tmp/.other.rescue-partial')).toBeUndefined()
  })

  it("tells how an upload that began from the end user's file ended only to who may read it", () => {
    const ledger = new TransferLedger()
    const outcome = { bytes: 5, sha256: 'a'.repeat(64), complete: false }
    ledger.record('/home/bob/secret.txt', outcome, true)
    ledger.record('/tmp/fix.sh', outcome)
    expect(ledger.outcome('/home/bob/secret.txt')).toBe('not-yours')
    expect(ledger.outcome('/tmp/fix.sh')).toEqual(outcome)
    ledger.noteReadable('/home/bob/secret.txt', stats(9, 5, 1))
    expect(ledger.outcome('/home/bob/secret.txt')).toEqual(outcome)
  })
})
