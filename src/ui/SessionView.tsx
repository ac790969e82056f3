import { Box, Text } from 'ink'
import { endUserWordsText, formatCountdown } from '../cli/session-lines.js'
import type { SessionViewState } from '../core/session/view-state.js'
import { useNow } from './use-now.js'

/** The live status of one side of a session: waiting (with the PIN's countdown), connected, ended. */
export function SessionView({ state }: { state: SessionViewState }) {
  const now = useNow(state.phase === 'waiting')
  const isHost = state.role === 'host'
  return (
    <Box flexDirection="column" paddingX={1}>
      <Text dimColor>rescue · {isHost ? 'you are sharing this computer' : 'technician'}</Text>
      {state.phase === 'connecting' && <Text color="yellow">● connecting to the gateway…</Text>}
      {state.phase === 'waiting' && (
        <Text color="yellow">
          ● {isHost ? 'waiting for your technician' : 'waiting for the end user'}
          {state.expiresAt && <Text dimColor> · PIN expires in {formatCountdown(state.expiresAt, now)}</Text>}
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
      {state.phase === 'ended' && state.ended && (
        <Text color={state.ended.abnormal ? 'red' : undefined}>● session ended: {state.ended.reason}</Text>
      )}
      {state.phase !== 'ended' && <Text dimColor>Ctrl-C ends the session.</Text>}
    </Box>
  )
}
