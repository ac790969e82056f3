import { Box, Text } from 'ink'
import { endUserWordsText, formatCountdown, waitingDetail } from '../cli/session-lines.js'
import type { SessionViewState } from '../core/session/view-state.js'
import { LinkStatus } from './LinkStatus.js'
import { useNow } from './use-now.js'

/** The live status of one side of a session: waiting (with the PIN's countdown), connected, ended. */
export function SessionView({ state, notes = [] }: { state: SessionViewState; notes?: string[] }) {
  const now = useNow(state.phase === 'waiting' || state.link !== undefined)
  const isHost = state.role === 'host'
  return (
    <Box flexDirection="column" paddingX={1}>
      <Text dimColor>rescue · {isHost ? 'you are sharing this computer' : 'technician'}</Text>
      {state.phase === 'connecting' && <Text color="yellow">● connecting to the gateway…</Text>}
      {state.phase === 'waiting' && (
        <Text color="yellow">
          ● {isHost ? waitingDetail(state, now).what : 'waiting for the end user'}
          {state.expiresAt && state.via !== 'queue' && (
            <Text dimColor>
              {' · '}
              {isHost
                ? waitingDetail(state, now).until
                : `PIN expires in ${formatCountdown(state.expiresAt, now)}`}
            </Text>
          )}
        </Text>
      )}
      {(state.phase === 'connected' || (state.phase === 'ended' && state.sas)) && (
        <Box flexDirection="column">
          {state.phase === 'connected' && <Text color="green">● connected</Text>}
          {state.technician && (
            <Text>
              technician <Text bold>{state.technician.name}</Text> &lt;{state.technician.email}&gt; of{' '}
              {state.technician.organisation}
            </Text>
          )}
          <Text>
            security words: <Text bold>{state.sas}</Text>
          </Text>
          {!isHost && state.sessionId && (
            <Text>
              session <Text bold>{state.sessionId}</Text>
              <Text dimColor> (for rescue transfer, and --session with send, get, sysinfo, chat)</Text>
            </Text>
          )}
          {state.phase === 'connected' && (
            <Text dimColor>
              {isHost
                ? 'Your technician must read you the same words. If they differ, press Ctrl-C.'
                : 'Read them to the end user: theirs must be the same. If not, press Ctrl-C.'}
            </Text>
          )}
          {state.phase === 'connected' && state.endUserWords && (
            <Text color={state.endUserWords === 'confirmed' ? 'green' : 'yellow'}>
              {endUserWordsText[state.endUserWords]}
            </Text>
          )}
        </Box>
      )}
      {notes.length > 0 && (
        <Box flexDirection="column" marginY={1}>
          {notes.map((note, index) => (
            <Text key={index}>{note}</Text>
          ))}
        </Box>
      )}
      {state.phase === 'connected' && state.path && (
        <Text dimColor>
          {state.path === 'direct' ? '● direct link to the end user' : '● through the gateway'}
        </Text>
      )}
      {state.link && state.phase !== 'ended' && <LinkStatus link={state.link} role={state.role} now={now} />}
      {state.phase === 'ended' && state.ended && (
        <Text color={state.ended.abnormal ? 'red' : undefined}>● session ended: {state.ended.reason}</Text>
      )}
      {state.phase !== 'ended' && <Text dimColor>Ctrl-C ends the session.</Text>}
    </Box>
  )
}
