/**
 * Human output of the admin commands: aligned columns of users, groups, tokens and the audit
 * trail. Every string from the gateway is sanitized for the terminal (names and emails are typed
 * by people, and a failed login's email by anyone).
 */
import type {
  AuditRecord,
  ChannelLinkSummary,
  GroupSummary,
  ScriptTokenSummary,
  UserSummary,
} from '../core/accounts/index.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'

const clean = (text: string, max = 80) => sanitizeForTerminal(text, max)

/** Rows as columns separated by two spaces, the first row a header. */
export function columns(rows: string[][]): string[] {
  const widths =
    rows[0]?.map((_, index) => Math.max(...rows.map((row) => [...(row[index] ?? '')].length))) ?? []
  return rows.map((row) =>
    row
      .map((cell, index) =>
        index === row.length - 1 ? cell : cell + ' '.repeat((widths[index] ?? 0) - [...cell].length),
      )
      .join('  ')
      .trimEnd(),
  )
}

const list = (items: readonly string[]) =>
  items.length > 0 ? items.map((item) => clean(item, 40)).join(',') : '-'

export function formatUsers(users: readonly UserSummary[]): string[] {
  return columns([
    ['EMAIL', 'NAME', 'ROLE', 'GROUPS', 'ADMIN OF', 'TOTP', 'STATE'],
    ...users.map((user) => [
      clean(user.email),
      clean(user.name, 40),
      user.role,
      list(user.groups),
      list(user.adminOf),
      user.totp,
      user.lockedUntil
        ? `locked until ${user.lockedUntil}`
        : user.mustChangePassword
          ? 'must change password'
          : user.failedLogins > 0
            ? `${user.failedLogins} failed logins`
            : 'ok',
    ]),
  ])
}

export function formatDurationMs(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  return `${Math.round(ms / 1000)}s`
}

export function formatGroups(groups: readonly GroupSummary[]): string[] {
  return groups.flatMap((group) => [
    clean(group.name),
    `  allow:        ${list(group.allow)}`,
    `  deny:         ${list(group.deny)}`,
    `  single prompt: ${group.singlePrompt ? 'yes' : 'no'}   2FA: ${group.require2fa ? 'required' : 'optional'}   idle timeout: ${group.idleTimeoutMs ? formatDurationMs(group.idleTimeoutMs) : 'none'}   recording: ${group.recording ?? 'off'}`,
    `  IP allow-list: ${group.ipAllow.length > 0 ? group.ipAllow.join(', ') : 'any address'}`,
    `  members:      ${list(group.members)}`,
    `  admins:       ${list(group.admins)}`,
  ])
}

export function formatTokens(tokens: readonly ScriptTokenSummary[]): string[] {
  return columns([
    ['NAME', 'GROUP', 'CREATED', 'EXPIRES', 'LAST USED'],
    ...tokens.map((token) => [
      clean(token.name),
      clean(token.group ?? '-'),
      token.createdAt,
      token.expiresAt,
      token.lastUsedAt ?? 'never',
    ]),
  ])
}

export function formatChannelLinks(links: readonly ChannelLinkSummary[]): string[] {
  if (links.length === 0) return ['no channel links (make one with rescue admin channels create GROUP)']
  return columns([
    ['NAME', 'GROUP', 'CREATED', 'BY', 'LAST USED'],
    ...links.map((link) => [
      clean(link.name),
      clean(link.group),
      link.createdAt,
      clean(link.createdBy),
      link.lastUsedAt ?? 'never',
    ]),
  ])
}

function describeChange(entry: AuditRecord): string {
  const parts: string[] = []
  if (entry.before) parts.push(`before ${JSON.stringify(entry.before)}`)
  if (entry.after) parts.push(`${entry.before ? 'after ' : ''}${JSON.stringify(entry.after)}`)
  return clean(parts.join(' '), 400)
}

export function formatAudit(entries: readonly AuditRecord[]): string[] {
  return columns([
    ['AT', 'ACTOR', 'ACTION', 'TARGET', 'FROM', 'DETAILS'],
    ...entries.map((entry) => [
      entry.at,
      clean(entry.actor),
      clean(entry.action, 40),
      clean(entry.target ?? '-'),
      clean(entry.address ?? '-', 45),
      describeChange(entry),
    ]),
  ])
}
