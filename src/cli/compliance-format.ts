/**
 * Human output of the compliance commands (reports, chat, retention, webhooks). Every string from
 * the gateway is sanitized for the terminal: file names and chat lines come from the other side.
 */
import type { ChatLine, DeliveryStatus, SessionSummary } from '../core/compliance/index.js'
import { sanitizeForTerminal } from '../core/text/sanitize.js'
import { columns } from './admin-format.js'

const clean = (text: string | null | undefined, max = 60) => (text ? sanitizeForTerminal(text, max) : '-')

function duration(seconds: number | null): string {
  if (seconds === null) return 'live'
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(s).padStart(2, '0')}s`
      : `${s}s`
}

export function formatSessionsTable(sessions: readonly SessionSummary[]): string[] {
  if (sessions.length === 0) return ['no sessions in that period']
  const table = columns([
    ['STARTED', 'TECHNICIAN', 'HOST', 'DURATION', 'ENDED BY', 'ALLOWED', 'DENIED', 'FILES', 'SESSION'],
    ...sessions.map((s) => [
      (s.startedAt ?? s.createdAt).replace(/\.\d+Z$/, 'Z'),
      clean(s.technician, 40),
      `${clean(s.hostName, 30)}${s.hostAddress ? ` (${clean(s.hostAddress, 45)})` : ''}`,
      duration(s.durationSeconds),
      clean(s.endedBy, 12),
      s.allowed.join(',') || '-',
      s.denied.join(',') || '-',
      String(s.files.length),
      s.sessionId,
    ]),
  ])
  const files = sessions.flatMap((s) =>
    s.files.map(
      (file) =>
        `  ${s.sessionId}  ${file.direction}  ${clean(file.path, 80)}  ${file.bytes} bytes  sha256:${file.sha256 || '-'}${file.complete ? '' : '  (incomplete)'}`,
    ),
  )
  return files.length > 0 ? [...table, '', 'files:', ...files] : table
}

export function formatChat(lines: readonly ChatLine[]): string[] {
  if (lines.length === 0) return ['no chat in this session']
  return lines.map(
    (line) =>
      `${line.at.replace(/\.\d+Z$/, 'Z')}  ${line.from === 'host' ? 'end user' : 'technician'}: ${sanitizeForTerminal(line.text, 4000)}`,
  )
}

export function formatDeliveries(deliveries: readonly DeliveryStatus[]): string[] {
  if (deliveries.length === 0) return ['no deliveries yet']
  return columns([
    ['CREATED', 'SESSION', 'STATE', 'ATTEMPTS', 'LAST ERROR', 'NEXT ATTEMPT'],
    ...deliveries.map((d) => [
      d.createdAt.replace(/\.\d+Z$/, 'Z'),
      d.sessionId,
      d.state,
      String(d.attempts),
      clean(d.lastError, 60),
      d.nextAttemptAt ? d.nextAttemptAt.replace(/\.\d+Z$/, 'Z') : '-',
    ]),
  ])
}
