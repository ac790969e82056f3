import { Box, Text, useInput, useStdin } from 'ink'
import { useEffect, useRef, useState } from 'react'
import { formatCountdown } from '../cli/session-lines.js'
import type { ConsentRequest, Decision } from '../core/consent/types.js'
import { progressLine } from '../core/text/progress.js'
import type { FeedEntry, HostViewState, OpenChannel } from '../core/host/view-state.js'
import { useNow } from './use-now.js'

/** Keys pressed sooner than this after a prompt appears were meant for what was on screen before. */
export const PROMPT_GUARD_MS = 400
/** How many feed lines the view shows; the state keeps more. */
const FEED_LINES = 8

export interface HostViewProps {
  state: HostViewState
  onDecision(id: string, decision: Decision): void
  onRevoke(): void
  onEndSession(): void
  /** `q` pressed: the parent dispatches `{ event: 'confirm-end' }`. */
  onConfirmEnd(): void
  onCancelEnd(): void
  /** Ctrl-C (raw mode makes it a key, not SIGINT): ends the session as Ctrl-C does elsewhere (exit 130). */
  onInterrupt?(): void
  /** The end user wrote a chat line (`c`, then Enter). */
  onChat?(text: string): void
}

const decisionKeys: Record<string, Decision> = { a: 'once', s: 'session', f: 'folder', d: 'deny' }
const PROMPT_KEYS = '[a] allow once   [s] allow for this session   [d] deny          '
const FOLDER_KEY = '[f] allow for this session, only in '
const LEGEND = '[c] chat  [r] revoke every grant  [q] end the session'
const CHAT_LEGEND = '[Enter] send  [Esc] cancel'
// Control characters never enter the chat line, whatever the terminal sends.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g
const CONFIRM_END = 'End the session now? [y] yes  [n] no'

/** The end user's live view of `rescue host`: who is connected, what they may do, and consent prompts. */
export function HostView({
  state,
  onDecision,
  onRevoke,
  onEndSession,
  onInterrupt,
  onConfirmEnd,
  onCancelEnd,
  onChat,
}: HostViewProps) {
  const [draft, setDraftState] = useState<string | undefined>(undefined)
  // Keys can arrive faster than React re-renders the input handler: the ref is always current.
  const draftRef = useRef<string | undefined>(undefined)
  const setDraft = (next: string | undefined) => {
    draftRef.current = next
    setDraftState(next)
  }
  const { isRawModeSupported } = useStdin()
  // Ticks until the end, not only while a countdown shows: a clock that started ticking only when
  // a prompt appeared would show a stale deadline for its first second.
  const now = useNow(state.phase !== 'ended')
  const prompt = state.prompts[0]

  // When the prompt now on screen first appeared (set after it is committed to the terminal).
  const shown = useRef<{ id: string; at: number } | undefined>(undefined)
  useEffect(() => {
    if (prompt && shown.current?.id !== prompt.id) shown.current = { id: prompt.id, at: Date.now() }
  }, [prompt])

  useInput(
    (input, key) => {
      if (key.ctrl && input === 'c') return (onInterrupt ?? onEndSession)()
      if (state.phase === 'ended') return
      if (prompt) {
        const decision = decisionKeys[input.toLowerCase()]
        // Only a file request has a folder to limit a grant to.
        if (decision === 'folder' && prompt.folder === undefined) return
        const since = shown.current
        const settled = since?.id === prompt.id && Date.now() - since.at >= PROMPT_GUARD_MS
        if (decision && settled) onDecision(prompt.id, decision)
        return
      }
      const draft = draftRef.current
      if (draft !== undefined) {
        if (key.escape) setDraft(undefined)
        else if (key.return) {
          if (draft.trim()) onChat?.(draft)
          setDraft(undefined)
        } else if (key.backspace || key.delete) setDraft(draft.slice(0, -1))
        else if (!key.ctrl && !key.meta) {
          // Typed fast or pasted, a line and its Enter can arrive as one chunk.
          const [typed = '', ...rest] = input.split(/[\r\n]/)
          const line = (draft + typed.replace(CONTROL, '')).slice(0, 2000)
          if (rest.length === 0) return setDraft(line)
          if (line.trim()) onChat?.(line)
          setDraft(undefined)
        }
        return
      }
      if (state.confirmingEnd) {
        if (input === 'y') onEndSession()
        else if (input === 'n' || key.escape) onCancelEnd()
        return
      }
      if (input === 'c' && onChat && state.phase === 'connected') setDraft('')
      else if (input === 'r') onRevoke()
      else if (input === 'q') onConfirmEnd()
    },
    // Without raw mode there are no key presses to read; the command falls back to its flags.
    { isActive: isRawModeSupported },
  )

  return (
    <Box flexDirection="column" paddingX={1}>
      <Text dimColor>rescue · you are sharing this computer</Text>
      {prompt ? (
        <PromptBox prompt={prompt} waiting={state.prompts.length - 1} now={now} />
      ) : (
        <StatusScreen state={state} now={now} draft={draft} />
      )}
    </Box>
  )
}

function PromptBox({ prompt, waiting, now }: { prompt: ConsentRequest; waiting: number; now: number }) {
  const seconds = Math.max(0, Math.round((Date.parse(prompt.deadline) - now) / 1000)) || 0
  return (
    <Box flexDirection="column" borderStyle="round" borderColor="yellow" paddingX={1}>
      <Text>
        <Text bold>{prompt.technician}</Text> wants to {prompt.summary}.
      </Text>
      {prompt.detail && (
        <Box paddingLeft={2}>
          <Text bold>{prompt.detail}</Text>
        </Box>
      )}
      <Text>
        {PROMPT_KEYS}
        <Text color="yellow">(denies in {seconds} s)</Text>
      </Text>
      {prompt.folder !== undefined && (
        <Text>
          {FOLDER_KEY}
          <Text bold>{prompt.folder}</Text>
        </Text>
      )}
      {waiting > 0 && <Text dimColor>({waiting} more waiting)</Text>}
    </Box>
  )
}

function StatusScreen({ state, now, draft }: { state: HostViewState; now: number; draft?: string }) {
  const connected = state.phase === 'connected'
  return (
    <Box flexDirection="column">
      {state.phase === 'connecting' && <Text color="yellow">● connecting to the gateway…</Text>}
      {state.phase === 'waiting' && (
        <Text color="yellow">
          ● waiting for your technician
          {state.expiresAt && <Text dimColor> · PIN expires in {formatCountdown(state.expiresAt, now)}</Text>}
        </Text>
      )}
      {(connected || (state.phase === 'ended' && state.sas)) && (
        <Box flexDirection="column">
          {connected && <Text color="green">● connected</Text>}
          {state.technician && (
            <Text>
              technician <Text bold>{state.technician.name}</Text> &lt;{state.technician.email}&gt; of{' '}
              {state.technician.organisation}
            </Text>
          )}
          <Text>
            security words: <Text bold>{state.sas}</Text>
          </Text>
          {connected && (
            <Text dimColor>
              Compare them by phone: your technician must read you the same words. If they differ, press
              Ctrl-C.
            </Text>
          )}
        </Box>
      )}
      {connected && <Permissions state={state} />}
      {state.feed.length > 0 && <Feed entries={state.feed.slice(-FEED_LINES)} />}
      {state.phase === 'ended' && state.ended && (
        <Text color={state.ended.abnormal ? 'red' : undefined}>● session ended: {state.ended.reason}</Text>
      )}
      {state.phase !== 'ended' &&
        (state.confirmingEnd ? (
          <Text color="yellow">{CONFIRM_END}</Text>
        ) : draft !== undefined ? (
          <Box flexDirection="column">
            <Text>
              chat&gt; {draft}
              <Text inverse> </Text>
            </Text>
            <Text dimColor>{CHAT_LEGEND}</Text>
          </Box>
        ) : (
          <Text dimColor>{connected ? LEGEND : '[q] end the session'}</Text>
        ))}
    </Box>
  )
}

function Permissions({ state }: { state: HostViewState }) {
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text>granted now: {state.grants.length > 0 ? state.grants.join(', ') : 'nothing'}</Text>
      {state.autoApprove.length > 0 && (
        <Text color="yellow" bold>
          pre-approved for this session: {state.autoApprove.join(', ')}
        </Text>
      )}
      {state.openChannels.length > 0 && (
        <Text>open now: {state.openChannels.map(describeChannel).join(', ')}</Text>
      )}
      {state.transfers.map((transfer) => (
        <Text key={`${transfer.direction} ${transfer.path}`}>
          {progressLine({
            label:
              transfer.direction === 'to-host' ? `receiving ${transfer.path}` : `sending ${transfer.path}`,
            bytes: transfer.bytes,
            ...(transfer.total !== undefined ? { total: transfer.total } : {}),
          })}
        </Text>
      ))}
    </Box>
  )
}

function describeChannel(open: OpenChannel): string {
  if (open.kind === 'shell') return `shell #${open.channel}`
  if (open.kind === 'sftp') return `file access #${open.channel}`
  return `command #${open.channel} (${open.command ?? '?'})`
}

function Feed({ entries }: { entries: FeedEntry[] }) {
  return (
    <Box flexDirection="column" marginY={1}>
      {entries.map((entry, index) => (
        <Text key={index}>
          <Text dimColor>{clockTime(entry.time)}</Text> {entry.text}
        </Text>
      ))}
    </Box>
  )
}

/** Local HH:MM:SS of an ISO time; an unreadable one shows as dashes rather than NaN. */
export function clockTime(iso: string): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return '--:--:--'
  return [date.getHours(), date.getMinutes(), date.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':')
}
