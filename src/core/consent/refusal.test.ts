import { describe, expect, it } from 'vitest'
import { ExitCode } from '../errors.js'
import {
  refusalCodeOfText,
  refusalError,
  refusalFromStatus,
  refusalMessage,
  type Refusal,
} from './refusal.js'
import { permissions } from './types.js'
import { PERMISSION_WORDS } from './wording.js'

describe('who refused and why, as the technician reads it', () => {
  it.each<[Refusal, string, number]>([
    [{ permission: 'shell', by: 'end-user' }, 'the end user denied the shell', ExitCode.denied],
    [
      { permission: 'exec', by: 'timeout', seconds: 60 },
      'the end user did not answer within 60 s (the command)',
      ExitCode.denied,
    ],
    [
      { permission: 'sysinfo', by: 'no-terminal' },
      "no one is at the host's terminal to allow system information",
      ExitCode.denied,
    ],
    [
      { permission: 'files.browse', by: 'policy' },
      "your group's policy does not allow looking through folders (files.browse)",
      ExitCode.forbidden,
    ],
    [
      { permission: 'shell', by: 'ended' },
      'the session ended before the end user answered (the shell)',
      ExitCode.sessionEnded,
    ],
    [
      { permission: 'exec', by: 'revoked' },
      'the end user revoked every grant while the command waited for an answer',
      ExitCode.denied,
    ],
  ])('%j: "%s", exit %i', (refusal, message, exitCode) => {
    const error = refusalError(refusal)
    expect(error.message).toBe(message)
    expect(error.exitCode).toBe(exitCode)
    // The same text read back from an SFTP status gives the same code.
    expect(refusalCodeOfText(refusalMessage(refusal))).toBe(error.code)
  })

  it('a text that is not a refusal (the account may not read a file) is not taken for one', () => {
    expect(refusalCodeOfText("the end user's account may not do that")).toBeUndefined()
  })

  it('through the control socket: the exit status gives the code, stderr the message', () => {
    expect(
      refusalFromStatus(17, "rescue: your group's policy does not allow the shell (shell)"),
    ).toMatchObject({
      code: 'forbidden',
      message: "your group's policy does not allow the shell (shell)",
    })
    expect(refusalFromStatus(15, '')).toMatchObject({ code: 'denied', message: 'denied by the end user' })
    expect(refusalFromStatus(0, 'rescue: whatever')).toBeUndefined()
    expect(refusalFromStatus(1, 'rescue: whatever')).toBeUndefined()
  })

  it('every permission has words, and no wording is a key', () => {
    for (const permission of permissions) {
      expect(PERMISSION_WORDS[permission].verb).not.toContain('.')
      expect(PERMISSION_WORDS[permission].noun).not.toContain('.')
    }
  })
})
