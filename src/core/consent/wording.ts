/**
 * How each permission reads to a person: the one table used by every prompt, the host's view and
 * the technician's messages, so the end user never sees a key like `files.receive`. A new
 * permission fails to compile until it has its words here.
 */
import type { Permission } from './types.js'

export interface PermissionWords {
  /** What the technician may do, after "wants to" or in a list: "open a shell". */
  verb: string
  /**
   * The thing itself, after "allowed" or "denied": "the shell". Read by both sides ("you denied…"
   * on the host, "the end user denied…" on the technician's), so it names no one as "your".
   */
  noun: string
}

export const PERMISSION_WORDS: Record<Permission, PermissionWords> = {
  shell: { verb: 'open a shell', noun: 'the shell' },
  exec: { verb: 'run commands', noun: 'the command' },
  'files.send': { verb: 'send files to this computer', noun: 'sending files to this computer' },
  'files.receive': { verb: 'read files from this computer', noun: 'reading files from this computer' },
  'files.browse': { verb: 'look through folders', noun: 'looking through folders' },
  'files.modify': {
    verb: 'change files and folders (delete, rename, change modes)',
    noun: 'changing files and folders',
  },
  sysinfo: { verb: 'see system information', noun: 'system information' },
  record: { verb: 'record the session', noun: 'recording the session' },
  transfer: { verb: 'hand the session to another technician', noun: 'handing the session over' },
  private: { verb: 'take private (PIN) sessions', noun: 'private sessions' },
  'single-prompt': { verb: 'ask for everything at once', noun: 'everything at once' },
  reboot: { verb: 'restart this computer', noun: 'restarting this computer' },
  url: { verb: 'open web addresses', noun: 'opening web addresses' },
  clipboard: { verb: 'use the clipboard', noun: 'the clipboard' },
  view: { verb: 'watch your shared terminal', noun: 'watching the shared terminal' },
  control: { verb: 'type in your shared terminal', noun: 'typing in the shared terminal' },
  present: { verb: 'show you their terminal', noun: "being shown the technician's terminal" },
}

/** "open a shell" */
export function verbFor(permission: Permission): string {
  return PERMISSION_WORDS[permission].verb
}

/** "the shell" */
export function nounFor(permission: Permission): string {
  return PERMISSION_WORDS[permission].noun
}

/** "open a shell, run commands and see system information"; "nothing" for none. */
export function listInWords(permissions: readonly Permission[]): string {
  const words = permissions.map(verbFor)
  if (words.length === 0) return 'nothing'
  if (words.length === 1) return words[0]!
  return `${words.slice(0, -1).join(', ')} and ${words.at(-1)!}`
}
