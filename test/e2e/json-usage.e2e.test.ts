/**
 * Issue 15.6: a usage error under --json is one small JSON object on stderr and nothing on stdout,
 * for every command in the manifest (oclif used to print its whole parse state: 90 KB).
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/core/errors.js'
import { CliWorld, REPO_ROOT, type RunResult } from './cli.js'

const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, unknown>
}
const commands = Object.keys(manifest.commands).map((id) => id.split(':'))

let world: CliWorld
beforeAll(() => {
  world = new CliWorld()
})
afterAll(() => world?.dispose())

function expectOneSmallUsageError(result: RunResult): Record<string, unknown> {
  expect(result.exitCode, result.stderr).toBe(ExitCode.usage)
  expect(result.stdout).toBe('')
  expect(Buffer.byteLength(result.stderr)).toBeLessThan(1024)
  const lines = result.stderr.trim().split('\n')
  expect(lines).toHaveLength(1)
  const body = JSON.parse(lines[0]!) as { error: Record<string, unknown> }
  expect(body.error).toMatchObject({ code: 'usage', exitCode: ExitCode.usage })
  expect(body.error.message).toEqual(expect.any(String))
  return body.error
}

describe('usage errors under --json', () => {
  it.each(commands.map((words) => [words.join(' '), words] as const))(
    'rescue %s --no-such-flag --json: one JSON object under 1 KB on stderr',
    async (_name, words) => {
      const error = expectOneSmallUsageError(await world.run([...words, '--no-such-flag', '--json']))
      expect(error.message).toMatch(/no-such-flag/)
      expect(error.hint).toContain(`rescue ${words.join(' ')} --help`)
    },
  )

  it('rescue host --json without a PIN, a channel link or a terminal names what it needs', async () => {
    const error = expectOneSmallUsageError(await world.run(['host', '--json']))
    expect(error.message).toBe('no PIN was given, and there is no terminal to ask for it')
    expect(error.hint).toMatch(/--pin-stdin.*RESCUE_PIN.*--pin.*--channel/)
  })

  it('rescue get --json with a missing argument names it', async () => {
    const error = expectOneSmallUsageError(await world.run(['get', '/etc/hostname', '--json']))
    expect(error.message).toMatch(/Missing 1 required arg: local/)
  })

  it('a mistyped command suggests the nearest one, on stderr, with exit 2', async () => {
    const human = await world.run(['sned', './fix.sh', '/tmp/'])
    expect(human.exitCode).toBe(ExitCode.usage)
    expect(human.stdout).toBe('')
    expect(human.stderr).toContain('"sned" is not a rescue command')
    expect(human.stderr).toContain('did you mean rescue send?')
    const error = expectOneSmallUsageError(await world.run(['admin', 'usrs', 'list', '--json']))
    expect(error.hint).toContain('did you mean rescue admin users list?')
  })
})
