/** The vocabulary of consent: what a technician may ask for, what the end user answers, and who decided. */
import { UserError } from '../errors.js'

/**
 * Permission names shared by consent prompts, `--auto-approve` and group policy (DESIGN.md).
 * Chat needs none, so it is not here.
 */
export const permissions = [
  'shell',
  'exec',
  'files.send',
  'files.receive',
  'files.browse',
  'files.modify',
  'sysinfo',
  'record',
  'transfer',
  'private',
  'single-prompt',
  'reboot',
  'url',
  'clipboard',
  'view',
  'control',
  'present',
] as const
export type Permission = (typeof permissions)[number]

/**
 * The end user's answer: allow this one request, allow this kind for the rest of the session,
 * allow this kind for the rest of the session inside one folder (file requests only), or deny.
 */
export type Decision = 'once' | 'session' | 'folder' | 'deny'

/** Who or what made a decision, for the view and the audit log. */
export type DecidedBy =
  | 'end-user'
  /** A grant the end user made earlier "for this session". */
  | 'session-grant'
  /** A grant the end user made earlier "for this session, in this folder". */
  | 'folder-grant'
  /** The end user allowed a whole folder transfer, and this request is part of it. */
  | 'transfer-grant'
  /** `rescue host --auto-approve`. */
  | 'auto-approve'
  /** Nobody answered before the deadline. */
  | 'timeout'
  /** No terminal to ask on and no policy that allows it. */
  | 'no-terminal'
  /** A request the host does not know how to ask about. */
  | 'unknown-request'
  /** The session ended while it waited. */
  | 'ended'
  /** The end user revoked every grant (`r`) while it waited. */
  | 'revoked'
  /** The technician closed the channel that asked before anyone answered. */
  | 'withdrawn'
  /** The technician's groups do not allow it: refused whatever the end user would answer. */
  | 'policy'

/** One request shown to the end user. Every string in it is already sanitized for the terminal. */
export interface ConsentRequest {
  id: string
  permission: Permission
  /** What the technician wants, as the end of a sentence: "open a shell as bob on this computer". */
  summary: string
  /** The command line for exec, a path for files; absent when there is nothing more to say. */
  detail?: string
  /** Who asks: the technician's email, as the gateway vouched for it. */
  technician: string
  /** For a file request: the folder an "in this folder" grant would cover. */
  folder?: string
  /** When silence becomes a denial (ISO-8601). */
  deadline: string
  /** Only "for this session" or "deny" mean anything here (the single prompt): "once" is not offered. */
  sessionOnly?: true
  /** What a grant covers when it is more than `permission` (the single prompt: everything listed). */
  covers?: Permission[]
}

export interface ConsentResult {
  id: string
  permission: Permission
  decision: Decision
  by: DecidedBy
  /** The folder a `folder` decision covers, sanitized. */
  folder?: string
  /** Every permission a `session` decision granted, when more than `permission` (the single prompt). */
  covers?: Permission[]
}

/** How a request was decided, as the host's SSH server needs it to tell the technician why. */
export interface ConsentOutcome {
  allowed: boolean
  decision: Decision
  by: DecidedBy
  /** The permission a policy refusal is about: the one asked, or another the request needs. */
  permission: Permission
  /** How long the end user had to answer, for a timeout. */
  seconds?: number
}

/** Where a file request acts: the real path, and the folder an "in this folder" grant would cover. */
export interface FileScope {
  path: string
  folder: string
}

/** Parses `shell,exec`; an unknown name is an error, never ignored. */
export function parsePermissionList(list: string): Permission[] {
  const names = list
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean)
  const unknown = names.filter((name) => !(permissions as readonly string[]).includes(name))
  if (unknown.length > 0) {
    throw new UserError(
      'usage',
      `unknown permission ${unknown.map((name) => `"${name}"`).join(', ')}`,
      `use any of: ${permissions.join(', ')}`,
    )
  }
  return [...new Set(names as Permission[])]
}
