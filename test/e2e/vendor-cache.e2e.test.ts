/**
 * The build's code caches for dist/vendor (scripts/bundle.mjs, scripts/vendor-load.cjs): the CLI
 * loads its large dependencies with V8's compiled code from the build, and a cache that is missing,
 * from another build or cut short must cost only the time, never a wrong or broken module. Each case
 * runs in its own node process, on a copy of dist/vendor (other tests run the CLI from dist/).
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { REPO_ROOT } from './cli.js'

const VENDOR = path.join(REPO_ROOT, 'dist', 'vendor')
const copies: string[] = []
afterAll(() => copies.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

/** A copy of dist/vendor, its caches changed by `change`. */
function vendorCopy(change: (dir: string) => void = () => {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-vendor-'))
  copies.push(dir)
  fs.cpSync(VENDOR, dir, { recursive: true })
  change(dir)
  return dir
}

/**
 * Loads zod (not ASCII: read as UTF-8) and tweetnacl (ASCII: read as latin1) from DIR in a fresh
 * node, uses each, and says whether V8 took their caches.
 */
function loadIn(dir: string): { parsed: string; hashLength: number; cacheUsed: Record<string, boolean> } {
  const script = `
    const load = require(${JSON.stringify(path.join(dir, 'load.cjs'))})
    const { z } = load('zod')
    const nacl = load('tweetnacl')
    const parsed = z.object({ name: z.string().min(1) }).parse({ name: 'ok' }).name
    const hashLength = nacl.hash(new Uint8Array(3)).length
    process.stdout.write(JSON.stringify({ parsed, hashLength, cacheUsed: load.cacheUsed }))`
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))
}

const works = { parsed: 'ok', hashLength: 64 }

describe('dist/vendor code caches', () => {
  it('are taken by V8 as built', () => {
    expect(loadIn(vendorCopy())).toEqual({ ...works, cacheUsed: { zod: true, tweetnacl: true } })
  })

  it('are left alone when missing', () => {
    const dir = vendorCopy((dir) => {
      for (const file of fs.readdirSync(dir)) if (file.endsWith('.v8cache')) fs.rmSync(path.join(dir, file))
    })
    expect(loadIn(dir)).toEqual({ ...works, cacheUsed: { zod: false, tweetnacl: false } })
  })

  it('are left alone when from another build', () => {
    const dir = vendorCopy((dir) => {
      for (const name of ['zod', 'tweetnacl']) {
        const file = path.join(dir, `${name}.cjs.v8cache`)
        const cache = fs.readFileSync(file)
        cache.write('0'.repeat(32), 0, 'latin1')
        fs.writeFileSync(file, cache)
      }
    })
    expect(loadIn(dir)).toEqual({ ...works, cacheUsed: { zod: false, tweetnacl: false } })
  })

  it('are refused by V8, and the files compiled, when cut short', () => {
    const dir = vendorCopy((dir) => {
      for (const name of ['zod', 'tweetnacl']) {
        const file = path.join(dir, `${name}.cjs.v8cache`)
        const cache = fs.readFileSync(file)
        fs.writeFileSync(file, cache.subarray(0, Math.floor(cache.length / 2)))
      }
    })
    expect(loadIn(dir)).toEqual({ ...works, cacheUsed: { zod: false, tweetnacl: false } })
  })
})
