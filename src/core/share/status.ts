/**
 * The one-line status bar of `rescue host --share`: what the end user must know while their own
 * shell fills the screen (who is connected, whether they watch or may type, who typed last) and
 * the one question waiting for them, answered after Ctrl-] so that nothing typed into the shell
 * answers it by accident. A reducer of the host's events and a function of it to text; no I/O.
 */
import type { ConsentRequest } from '../consent/types.js'
import type { HostActivity } from '../host/events.js'
import type { SessionEvent } from '../session/index.js'
import { sanitizeForTerminal } from '../text/sanitize.js'
import type { Typist } from './index.js'

/** Ctrl-]: takes control back at once, and opens the menu. */
export const MENU_KEY = '\u001d'

export interface ShareStatus {
  phase: 'waiting' | 'connected' | 'ended'
  technician?: string
  /** The security words, while the end user has not said whether they match. */
  words?: string
  /** Whose words they are when an invited technician's (their email); the session's own technician's when absent. */
  wordsOf?: string
  /** Words of invited technicians waiting their turn, oldest first. */
  moreWords: { sas: string; technician: string }[]
  /** Invited technicians present, in the order they came: `1`, `2`… after Ctrl-] removes one. */
  invited: { name: string; email: string }[]
  /** Waiting consent requests, oldest first: the first is the one the menu answers. */
  prompts: ConsentRequest[]
  watching: number
  typing: number
  /** The latest news worth a glance (a decision, a chat line, the end). */
  note?: string
  menu: boolean
}

export type ShareAction = SessionEvent | HostActivity | { event: 'menu'; open: boolean }

export function initialShareStatus(): ShareStatus {
  return { phase: 'waiting', prompts: [], watching: 0, typing: 0, menu: false, moreWords: [], invited: [] }
}

export function reduceShareStatus(state: ShareStatus, action: ShareAction): ShareStatus {
  switch (action.event) {
    case 'menu':
      return { ...state, menu: action.open }
    case 'paired': {
      const who = action.technician
        ? `${action.technician.name} <${action.technician.email}>`
        : 'your technician'
      const { words: _words, ...rest } = state
      return { ...rest, phase: 'connected', technician: sanitizeForTerminal(who, 120), prompts: [] }
    }
    case 'words-asked': {
      if (state.words !== undefined && action.technician) {
        return {
          ...state,
          moreWords: [...state.moreWords, { sas: action.sas, technician: action.technician }],
        }
      }
      const { wordsOf: _of, ...rest } = state
      return { ...rest, words: action.sas, ...(action.technician ? { wordsOf: action.technician } : {}) }
    }
    case 'words-confirmed':
    case 'words-rejected': {
      if (action.event === 'words-rejected' && !action.technician) return state
      const note =
        action.event === 'words-confirmed'
          ? `You confirmed these words with ${action.technician ?? 'your technician'}.`
          : `${action.technician} was not let in: the words were not confirmed`
      return { ...nextWords(state, action.technician), note }
    }
    case 'technician-invited':
      return {
        ...state,
        note: `${short(action.technician)} invited by ${short(action.by)}, to pair with you`,
      }
    case 'technician-joined':
      return {
        ...state,
        invited: [...state.invited, { name: action.technician.name, email: action.technician.email }],
      }
    case 'technician-left': {
      if (action.first) {
        // The session's own technician left; the invited ones go on, and so does the line without them.
        const { technician: _gone, ...rest } = state
        return {
          ...rest,
          note: `${person(action.technician)} left: ${sanitizeForTerminal(action.reason, 120)}`,
        }
      }
      const gone = action.technician.email
      const next = nextWords(
        { ...state, moreWords: state.moreWords.filter((w) => w.technician !== gone) },
        gone,
      )
      return {
        ...next,
        invited: state.invited.filter((who) => who.email !== gone),
        note: `${person(action.technician)} ${action.removed ? 'removed' : `left: ${sanitizeForTerminal(action.reason, 120)}`}`,
      }
    }
    case 'lead-changed':
      return { ...state, note: `${person(action.to)} now leads` }
    case 'consent-request':
      return { ...state, prompts: [...state.prompts, action] }
    case 'consent-decision': {
      const prompts = state.prompts.filter((prompt) => prompt.id !== action.id)
      const verdict = action.decision === 'deny' ? 'denied' : 'allowed'
      return { ...state, prompts, note: `${action.permission} ${verdict}` }
    }
    case 'channel-open':
      if (action.kind === 'view') return { ...state, watching: state.watching + 1 }
      if (action.kind === 'control') return { ...state, typing: state.typing + 1 }
      return state
    case 'channel-close':
      if (action.kind === 'view') return { ...state, watching: Math.max(0, state.watching - 1) }
      if (action.kind === 'control') return { ...state, typing: Math.max(0, state.typing - 1) }
      return state
    case 'control-taken-back':
      return { ...state, typing: 0, note: 'you took control back' }
    case 'grants-revoked':
      return { ...state, watching: 0, typing: 0, note: 'you revoked everything' }
    case 'chat':
      return action.from === 'technician' ? { ...state, note: `chat: ${action.text}` } : state
    case 'ended': {
      const { words: _words, ...rest } = state
      return {
        ...rest,
        phase: 'ended',
        prompts: [],
        invited: [],
        moreWords: [],
        watching: 0,
        typing: 0,
        menu: false,
        note: `session ended: ${sanitizeForTerminal(action.reason, 200)}`,
      }
    }
    default:
      return state
  }
}

/** The status bar's text, cut to `cols`. */
export function statusLine(state: ShareStatus, lastTyped: Typist | undefined, cols: number): string {
  const prompt = state.prompts[0]
  if (prompt && !state.words && !state.menu && !promptFits(state, cols)) {
    // Nobody allows what they cannot read: a request cut short can only be denied here.
    return fit(
      `rescue: too long for this line, widen the window to read it all, or Ctrl-] then d to deny · ${promptText(prompt)}`,
      cols,
    )
  }
  return fit(`rescue: ${statusText(state, lastTyped)}`, cols)
}

/** True when the waiting request shows whole on a line of `cols`: only then may it be allowed. */
export function promptFits(state: ShareStatus, cols: number): boolean {
  const prompt = state.prompts[0]
  if (!prompt) return false
  const keys = prompt.sessionOnly ? 's or d' : 'a, s or d'
  return [...`rescue: Ctrl-] then ${keys} · ${promptText(prompt)}`].length <= cols
}

function promptText(prompt: ConsentRequest): string {
  return `${prompt.technician} wants to ${prompt.summary}${prompt.detail ? `: ${prompt.detail}` : ''}`
}

function statusText(state: ShareStatus, lastTyped: Typist | undefined): string {
  const prompt = state.prompts[0]
  if (state.menu) {
    const answers = state.words
      ? 'y the words match · n they do not · '
      : prompt
        ? `${prompt.sessionOnly ? '' : 'a allow once · '}s allow for this session (if it shows whole) · d deny · `
        : ''
    const remove = state.invited.map((who, index) => `${index + 1} remove ${who.name || who.email}`)
    return `${answers}r revoke everything · ${remove.length > 0 ? `${remove.join(' · ')} · ` : ''}q end the session · Ctrl-] types Ctrl-] · any other key: back`
  }
  if (state.phase === 'ended')
    return `${state.note ?? 'session ended'}. Your shell goes on: exit it to close rescue.`
  if (state.phase === 'waiting') return 'waiting for your technician… (Ctrl-] q ends)'
  if (state.words && state.wordsOf) {
    const who = state.invited.find((candidate) => candidate.email === state.wordsOf)
    const name = sanitizeForTerminal(who ? `${who.name} <${who.email}>` : state.wordsOf, 120)
    return `invited: ${name} · security words: ${state.words} · do they match what they read you? Ctrl-] then y (let them in) or n`
  }
  if (state.words) {
    return `security words: ${state.words} · do they match what your technician reads you? Ctrl-] then y or n · ${state.technician}`
  }
  if (prompt) {
    const keys = prompt.sessionOnly ? 's or d' : 'a, s or d'
    return `Ctrl-] then ${keys} · ${promptText(prompt)}`
  }
  const watching = state.watching > 0 ? 'watching' : 'not watching'
  const typing = state.typing > 0 ? 'may type' : 'cannot type'
  const last = lastTyped
    ? `last typed: ${lastTyped === 'end user' ? 'you' : 'technician'}`
    : 'nobody typed yet'
  const key = state.typing > 0 ? 'Ctrl-] takes control back' : 'Ctrl-] menu'
  const note = state.note ? ` · ${state.note}` : ''
  const others = state.invited.map((who, index) => `${index + 1} ${who.name || who.email}`)
  const here = state.technician ? [state.technician, ...others].join(' + ') : `here: ${others.join(' + ')}`
  return `${here} · ${watching} · ${typing} · ${last} · ${key}${note}`
}

const short = (who: { name: string; email: string }) => sanitizeForTerminal(who.name || who.email, 60)
const person = (who: { name: string; email: string }) =>
  sanitizeForTerminal(who.name ? `${who.name} <${who.email}>` : who.email, 120)

/** The words shown next, once `answered` (an invited technician's email, or the session's own when absent) are off the line. */
function nextWords(state: ShareStatus, answered: string | undefined): ShareStatus {
  if (state.words === undefined || state.wordsOf !== answered) return state
  const { words: _words, wordsOf: _of, ...rest } = state
  const [next, ...more] = state.moreWords
  return next
    ? { ...rest, words: next.sas, wordsOf: next.technician, moreWords: more }
    : { ...rest, moreWords: more }
}

function fit(text: string, cols: number): string {
  const chars = [...text]
  if (chars.length <= cols) return text
  return `${chars.slice(0, Math.max(cols - 1, 0)).join('')}…`
}
