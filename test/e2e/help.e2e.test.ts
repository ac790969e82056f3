import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, REPO_ROOT } from './cli.js'

interface Manifest {
  version: string
  commands: Record<string, { flags: Record<string, unknown> }>
}

const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'oclif.manifest.json'), 'utf8')) as Manifest
const packageJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string
}
const COMMANDS_DIR = path.join(REPO_ROOT, 'src', 'commands')

/** Command ids as oclif derives them from files: admin/init.ts -> admin:init, admin/index.ts -> admin. */
function commandFiles(): Map<string, string> {
  const files = new Map<string, string>()
  for (const relative of fs.readdirSync(COMMANDS_DIR, { recursive: true, encoding: 'utf8' })) {
    if (!relative.endsWith('.ts') || relative.endsWith('.d.ts') || relative.endsWith('.test.ts')) continue
    const parts = relative.slice(0, -'.ts'.length).split(path.sep)
    if (parts.at(-1) === 'index') parts.pop()
    files.set(parts.join(':'), path.join(COMMANDS_DIR, relative))
  }
  return files
}

const world = new CliWorld()
afterAll(() => world.dispose())

describe('oclif.manifest.json', () => {
  it('lists exactly the commands in src/commands (run npm run build when this fails)', () => {
    expect(Object.keys(manifest.commands).sort()).toEqual([...commandFiles().keys()].sort())
    expect(manifest.version).toBe(packageJson.version)
  })

  it("has each command's current flags (run npm run build when this fails)", async () => {
    for (const [id, file] of commandFiles()) {
      const { default: command } = (await import(pathToFileURL(file).href)) as {
        default: { flags?: object; baseFlags?: object; enableJsonFlag?: boolean }
      }
      const flags = Object.keys({ ...command.baseFlags, ...command.flags })
      if (command.enableJsonFlag) flags.push('json')
      expect(Object.keys(manifest.commands[id]?.flags ?? {}).sort(), id).toEqual([...new Set(flags)].sort())
    }
  })
})

describe('--help', () => {
  it.each(Object.keys(manifest.commands).sort())('rescue %s --help shows EXAMPLES', async (id) => {
    const result = await world.run([...id.split(':'), '--help'])
    expect(result.exitCode).toBe(ExitCode.ok)
    expect(result.stdout).toMatch(/^USAGE$/m)
    expect(result.stdout).toMatch(/^EXAMPLES$/m)
    // Examples are runnable lines with the real binary name, not an unexpanded template.
    const examples = result.stdout.slice(result.stdout.search(/^EXAMPLES$/m))
    expect(examples).toMatch(new RegExp(`^ {2}\\$ rescue ${id.replaceAll(':', ' ')}`, 'm'))
    expect(examples).not.toContain('<%')
  })
})
