import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeDirectory } from './paths.js'

const made: string[] = []
afterEach(() => made.splice(0).forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

describe('makeDirectory', () => {
  it('makes every missing folder with the mode given, and accepts one that exists', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-paths-'))
    made.push(root)
    const deep = path.join(root, 'a', 'b', 'c')
    makeDirectory(deep, 0o700)
    makeDirectory(deep, 0o700)
    for (const dir of [path.join(root, 'a'), path.join(root, 'a', 'b'), deep]) {
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
    }
  })

  it.runIf(process.platform === 'linux')(
    'fails at once where Node’s recursive mkdir spins forever (/proc)',
    () => {
      expect(() => makeDirectory('/proc/rescue-x/y', 0o700)).toThrow(/ENOENT/)
    },
  )
})
