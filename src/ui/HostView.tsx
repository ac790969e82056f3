import { Box, Text, useInput, useStdin, useStdout } from 'ink'
import { useEffect, useRef, useState } from 'react'
import { waitingDetail } from '../cli/session-lines.js'
import type { ConsentRequest, Decision } from '../core/consent/types.js'
import { verbFor } from '../core/consent/wording.js'
import { progressLine } from '../core/text/progress.js'
import type { FeedEntry, HostViewState, OpenChannel } from '../core/host/view-state.js'
import { HostIdentity } from './HostIdentity.js'
import { TrustLine } from './TrustLine.js'
import { LinkStatus } from './LinkStatus.js'
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
  /** The end user's answer to "do the security words match?": `y` true, `n` false. */
  onWords?(match: boolean, technician?: string): void
  /** `1`-`9`: remove that invited technician (rescue invite), as numbered on screen. */
  onRemove?(email: string): void
}

const decisionKeys: Record<string, Decision> = { a: 'once', s: 'session', f: 'folder', d: 'deny' }
const PROMPT_KEYS = ['[a] allow once', '[s] allow for this session', '[d] deny']
// The single prompt is a grant for the session or nothing: "once" would mean nothing for a list.
const SESSION_ONLY_KEYS = ['[s] allow for this session', '[d] deny']
// The prompt box's text is this much narrower than the terminal: the view's padding, the box's border and its padding.
const PROMPT_INSET = 6
const FOLDER_KEY = '[f] allow for this session, only in '
const LEGEND = '[c] chat  [r] revoke every grant  [q] end the session'
const CHAT_LEGEND = '[Enter] send  [Esc] cancel'
// Control characters never enter the chat line, whatever the terminal sends.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g
const CONFIRM_END = 'End the session now? [y] yes  [n] no'
const WORDS_QUESTION = 'Do these match the words your technician reads you?'
const WORDS_KEYS = '[y] yes  [n] no'
const COMPARE_HINT =
  'Compare them by phone: your technician must read you the same words. If they differ, press Ctrl-C.'
const CONFIRMED_HINT = 'You confirmed these words with your technician.'

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
  onWords,
  onRemove,
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
  const asking = state.words === 'asking' && state.phase === 'connected'
  // Nothing is asked before the words are confirmed: a prompt waits under the words' question.
  const prompt = asking ? undefined : state.prompts[0]
  // The words' question or the prompt now on screen, by id, and when it first appeared (set after
  // it is committed to the terminal).
  const question = asking ? `words ${state.wordsDeadline ?? ''}` : prompt?.id

  const shown = useRef<{ id: string; at: number } | undefined>(undefined)
  useEffect(() => {
    if (question && shown.current?.id !== question) shown.current = { id: question, at: Date.now() }
  }, [question])
  const settled = () => {
    const since = shown.current
    return since !== undefined && since.id === question && Date.now() - since.at >= PROMPT_GUARD_MS
  }

  useInput(
    (input, key) => {
      if (key.ctrl && input === 'c') return (onInterrupt ?? onEndSession)()
      if (state.phase === 'ended') return
      if (asking) {
        // Keys typed before the question appeared were meant for something else: ignored.
        const answer = input.toLowerCase()
        // An invited technician's words are answered by name: the host asks several in turn.
        const invited = state.lead ? state.technician?.email : undefined
        if ((answer === 'y' || answer === 'n') && settled()) onWords?.(answer === 'y', invited)
        return
      }
      if (prompt) {
        const decision = decisionKeys[input.toLowerCase()]
        // Only a file request has a folder to limit a grant to.
        if (decision === 'folder' && prompt.folder === undefined) return
        if (prompt.sessionOnly && decision !== 'session' && decision !== 'deny') return
        if (decision && settled()) onDecision(prompt.id, decision)
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
      else if (/^[1-9]$/.test(input)) {
        const invited = Object.keys(state.joining ?? {})[Number(input) - 1]
        if (invited) onRemove?.(invited)
      }
    },
    // Without raw mode there are no key presses to read; the command falls back to its flags.
    { isActive: isRawModeSupported },
  )

  return (
    <Box flexDirection="column" paddingX={1}>
      <Text dimColor>rescue · you are sharing this computer</Text>
      <ConnectionLine state={state} now={now} />
      {state.phase === 'connected' && Object.keys(state.joining ?? {}).length > 0 && (
        <Text>
          {`also here (invited): ${Object.values(state.joining ?? {})
            .map((joined, index) => `[${index + 1}] ${joined.technician.name} <${joined.technician.email}>`)
            .join('  ')}   the number removes them`}
        </Text>
      )}
      {state.phase === 'connected' && state.path && (
        <Text dimColor>
          {state.path === 'direct' ? '● direct link to the technician' : '● through the gateway'}
        </Text>
      )}
      {state.phase === 'connected' && state.link && <LinkStatus link={state.link} role="host" now={now} />}
      {state.phase === 'connected' && state.recorded && (
        <Text color="red">
          ● REC the technician records this session&apos;s shells and commands
          {state.recorded.input ? ', keystrokes included' : ''}
        </Text>
      )}
      {/* Who is connecting and the words come first; then the words' question; then any prompt. */}
      {state.sas && (state.phase === 'connected' || state.phase === 'ended') && (
        <HostIdentity
          {...(state.technician ? { technician: state.technician } : {})}
          sas={state.sas}
          {...(state.phase === 'connected' && !asking
            ? { hint: state.words === 'confirmed' ? CONFIRMED_HINT : COMPARE_HINT }
            : {})}
          verification={
            <TrustLine
              verified={state.verified}
              email={state.technician?.email}
              trustGateway={state.trustGateway}
            />
          }
        />
      )}
      {asking ? (
        <WordsQuestion deadline={state.wordsDeadline} now={now} />
      ) : prompt ? (
        <PromptBox prompt={prompt} waiting={state.prompts.length - 1} now={now} />
      ) : (
        <StatusScreen state={state} draft={draft} />
      )}
    </Box>
  )
}

function ConnectionLine({ state, now }: { state: HostViewState; now: number }) {
  if (state.phase === 'connecting') return <Text color="yellow">● connecting to the gateway…</Text>
  if (state.phase === 'waiting') return <WaitingLine state={state} now={now} />
  if (state.phase === 'connected') return <Text color="green">● connected</Text>
  return null
}

function WordsQuestion({ deadline, now }: { deadline: string | undefined; now: number }) {
  const seconds = deadline ? Math.max(0, Math.round((Date.parse(deadline) - now) / 1000)) || 0 : undefined
  return (
    <Box flexDirection="column" borderStyle="round" borderColor="yellow" paddingX={1}>
      <Text bold>{WORDS_QUESTION}</Text>
      <Text>
        {WORDS_KEYS}
        {seconds !== undefined && <Text color="yellow">{`    (ends the session in ${seconds} s)`}</Text>}
      </Text>
      <Text dimColor>Nothing is asked or allowed until you answer.</Text>
    </Box>
  )
}

function PromptBox({ prompt, waiting, now }: { prompt: ConsentRequest; waiting: number; now: number }) {
  const seconds = Math.max(0, Math.round((Date.parse(prompt.deadline) - now) / 1000)) || 0
  const { stdout } = useStdout()
  const width = Math.max(20, (stdout.columns || 80) - PROMPT_INSET)
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
      <PromptKeys
        width={width}
        seconds={seconds}
        keys={prompt.sessionOnly ? SESSION_ONLY_KEYS : PROMPT_KEYS}
      />
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

/**
 * The keys and the countdown, laid out for the width there is, so that nothing wraps: on one line
 * when they fit, else the keys on one line and the countdown under them, else one key a line.
 */
function PromptKeys({ width, seconds, keys }: { width: number; seconds: number; keys: string[] }) {
  const countdown = <Text color="yellow">(denies in {seconds} s)</Text>
  const countdownWidth = `(denies in ${seconds} s)`.length
  const wide = keys.join('   ')
  if (wide.length + 2 + countdownWidth <= width) {
    return (
      <Box width={width} justifyContent="space-between">
        <Text>{wide}</Text>
        {countdown}
      </Box>
    )
  }
  const narrow = keys.join('  ')
  return (
    <Box flexDirection="column">
      {narrow.length <= width ? <Text>{narrow}</Text> : keys.map((key) => <Text key={key}>{key}</Text>)}
      {countdown}
    </Box>
  )
}

function StatusScreen({ state, draft }: { state: HostViewState; draft?: string }) {
  const connected = state.phase === 'connected'
  return (
    <Box flexDirection="column">
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
  const { stdout } = useStdout()
  // The view's padding: one column each side.
  const width = (stdout.columns || 80) - 2
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text>granted for this session: {state.grants.length > 0 ? state.grants.join(', ') : 'nothing'}</Text>
      {state.autoApprove.length > 0 && (
        <Text color="yellow" bold>
          pre-approved for this session: {state.autoApprove.map(verbFor).join(', ')}
        </Text>
      )}
      {state.openChannels.length > 0 && (
        <Text>open now: {state.openChannels.map(describeChannel).join(', ')}</Text>
      )}
      {state.transfers.map((transfer) => (
        <Text key={`${transfer.direction} ${transfer.path}`}>
          {progressLine(
            {
              label:
                transfer.direction === 'to-host' ? `receiving ${transfer.path}` : `sending ${transfer.path}`,
              bytes: transfer.bytes,
              ...(transfer.total !== undefined ? { total: transfer.total } : {}),
            },
            width,
          )}
        </Text>
      ))}
    </Box>
  )
}

function describeChannel(open: OpenChannel): string {
  if (open.kind === 'shell') return `shell #${open.channel}`
  if (open.kind === 'sftp') return `file access #${open.channel}`
  if (open.kind === 'view') return `watching #${open.channel}`
  if (open.kind === 'control') return `typing #${open.channel}`
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

/** A PIN's countdown, or a shared queue's wait: never a PIN the end user did not use. */
function WaitingLine({ state, now }: { state: HostViewState; now: number }) {
  const { what, until } = waitingDetail(state, now)
  return (
    <Text color="yellow">
      ● {what}
      {until && <Text dimColor> · {until}</Text>}
    </Text>
  )
}
