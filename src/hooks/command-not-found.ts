/**
 * oclif's `command_not_found` hook: a mistyped command gets a usage error that names the nearest
 * command ("rescue sned" -> "did you mean rescue send?"), as one JSON object on stderr under
 * `--json`, and exit 2. Not @oclif/plugin-not-found: it suggests only on a terminal, through a
 * yes/no prompt that then runs the guessed command with the typed arguments (one keystroke from
 * `rescue sned ./x /etc/` to a send), prints no suggestion to scripts, ignores --json, and would
 * add @inquirer/prompts to what `npx rescue host` downloads.
 */
import type { Hook } from '@oclif/core'
import { toErrorBody, UserError } from '../core/errors.js'
import { closest } from '../core/text/closest.js'
import { toJsonLine } from '../core/text/json-line.js'
import { humanLines } from '../cli/base-command.js'

const hook: Hook<'command_not_found'> = async function (options) {
  const spoken = (id: string) => id.replaceAll(':', ' ')
  const visible = options.config.commands.filter((command) => !command.hidden)
  const ids = visible.flatMap((command) => [command.id, ...command.aliases])
  // With spaces between topics, oclif folds arguments into the id ("sned x" is sned:x): compare
  // each command with as many of the typed words as it has.
  const typed = options.id.split(':')
  let best: { typed: string; suggestion: string } | undefined
  for (let words = typed.length; words > 0 && !best; words--) {
    const prefix = typed.slice(0, words).join(':')
    const suggestion = closest(
      prefix,
      ids.filter((id) => id.split(':').length === words),
    )
    if (suggestion) best = { typed: prefix, suggestion }
  }
  const suggestion = best?.suggestion
  const error = new UserError(
    'usage',
    `"${spoken(best?.typed ?? options.id)}" is not a rescue command`,
    suggestion
      ? `did you mean rescue ${spoken(suggestion)}? (rescue --help lists every command)`
      : 'rescue --help lists every command',
  )
  process.exitCode = error.exitCode
  const json = (options.argv ?? []).includes('--json')
  process.stderr.write(json ? `${toJsonLine(toErrorBody(error))}\n` : `${humanLines(error).join('\n')}\n`)
}

export default hook
