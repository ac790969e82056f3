import { afterEach, describe, expect, it, vi } from 'vitest'

import type { SessionEvent } from '../core/session/index.js'
import { describeEvent, formatCountdown, lineWriter } from './session-lines.js'

const NOW = Date.parse('2030-01-01T00:00:00.000Z')
const at = (seconds: number) => new Date(NOW + seconds * 1000).toISOString()

const SAS = 'amber falcon river oak'
const technician = { name: 'Ada Lovelace', email: 'ada@example.com', organisation: 'Analytical Ltd' }

afterEach(() => {
  vi.useRealTimers()
})

describe('formatCountdown', () => {
  it.each([
    [0, '0:00'],
    [1, '0:01'],
    [59, '0:59'],
    [60, '1:00'],
    [125, '2:05'],
    [20 * 60, '20:00'],
    [2 * 3600, '120:00'],
  ])('shows %i s left as %s', (seconds, shown) => {
    expect(formatCountdown(at(seconds), NOW)).toBe(shown)
  })

  it('rounds to the nearest second', () => {
    expect(formatCountdown(new Date(NOW + 1400).toISOString(), NOW)).toBe('0:01')
    expect(formatCountdown(new Date(NOW + 1600).toISOString(), NOW)).toBe('0:02')
  })

  it('shows 0:00 once the time has passed, never a negative countdown', () => {
    expect(formatCountdown(at(-1), NOW)).toBe('0:00')
    expect(formatCountdown(at(-3600), NOW)).toBe('0:00')
  })

  it('counts from the current time by default', () => {
    vi.useFakeTimers({ now: NOW })
    expect(formatCountdown(at(90))).toBe('1:30')
    vi.setSystemTime(NOW + 30_000)
    expect(formatCountdown(at(90))).toBe('1:00')
  })
})

describe('describeEvent', () => {
  it('tells the end user it is waiting for the technician', () => {
    const event: SessionEvent = { event: 'waiting', role: 'host', sessionId: 's1', expiresAt: at(600) }
    expect(describeEvent(event)).toEqual(['waiting for your technician'])
  })

  it('tells the technician how long the PIN has left', () => {
    vi.useFakeTimers({ now: NOW })
    const event: SessionEvent = { event: 'waiting', role: 'technician', sessionId: 's1', expiresAt: at(1200) }
    expect(describeEvent(event)).toEqual(['waiting for the end user; the PIN expires in 20:00'])
  })

  it('shows the end user who the technician is, and the security words to compare', () => {
    const event: SessionEvent = { event: 'paired', role: 'host', sessionId: 's1', sas: SAS, technician }
    const lines = describeEvent(event)
    expect(lines).toHaveLength(3)
    expect(lines[0]).toBe('connected to technician Ada Lovelace <ada@example.com> of Analytical Ltd')
    expect(lines[1]).toContain(SAS)
    expect(lines[1]).toMatch(/technician must read you the same words/)
    // Without --trust nothing but the gateway stands behind that identity, and the line says so.
    expect(lines[2]).toBe('ada@example.com as vouched for by the gateway (no key of yours checked it)')
  })

  it('with --trust, says the identity was checked by the organisation key, naming its fingerprint', () => {
    const verified = {
      email: 'ada@example.com',
      organisation: 'Analytical Ltd',
      caFingerprint: 'SHA256:abc',
      deviceFingerprint: 'SHA256:def',
      validUntil: '2027-01-01T00:00:00.000Z',
    }
    const event: SessionEvent = {
      event: 'paired',
      role: 'host',
      sessionId: 's1',
      sas: SAS,
      technician,
      verified,
    }
    expect(describeEvent(event)[2]).toBe("ada@example.com — verified by your organisation's key SHA256:abc")
  })

  // The technician used to see user@hostname here; since the hello names nothing identifying
  // (a man in the middle could read it before the words are compared), only the words are shown.
  it('tells the technician it is connected to the end user, with the words to read out', () => {
    const event: SessionEvent = { event: 'paired', role: 'technician', sessionId: 's1', sas: SAS }
    const lines = describeEvent(event)
    expect(lines).toHaveLength(3)
    expect(lines[0]).toBe('connected to the end user')
    expect(lines[1]).toContain(SAS)
    expect(lines[1]).toMatch(/read them to the end user/)
    // What rescue transfer and --session ask for.
    expect(lines[2]).toMatch(/^session s1 \(for rescue transfer/)
  })

  it('tells an end user in a shared queue that they wait for a technician of that group, not for a PIN', () => {
    vi.useFakeTimers({ now: NOW })
    const event: SessionEvent = {
      event: 'waiting',
      role: 'host',
      sessionId: 's1',
      expiresAt: at(3600),
      via: 'channel',
      channel: 'helpdesk',
    }
    const [line] = describeEvent(event)
    expect(line).toBe(
      'waiting in the shared queue of helpdesk for a technician to take your session (for up to 60:00 more)',
    )
    expect(line).not.toMatch(/PIN/)
  })

  it('does not speak of a PIN to a technician taking a session from a queue', () => {
    const event: SessionEvent = {
      event: 'waiting',
      role: 'technician',
      sessionId: 's1',
      expiresAt: at(600),
      via: 'queue',
    }
    expect(describeEvent(event)).toEqual(['taking the session from the queue'])
  })

  it('says why the session ended', () => {
    const event: SessionEvent = {
      event: 'ended',
      by: 'gateway',
      reason: 'the PIN expired',
      code: 'pinExpired',
    }
    expect(describeEvent(event)).toEqual(['session ended: the PIN expired'])
    expect(describeEvent({ event: 'ended', by: 'host', reason: 'the end user ended the session' })).toEqual([
      'session ended: the end user ended the session',
    ])
  })
})

describe('the technician hears about the security words', () => {
  it('waits for the end user, then says they confirmed, or that nobody there compares them', () => {
    const words = (event: 'words-waiting' | 'words-confirmed' | 'words-unchecked') =>
      describeEvent({ event, role: 'technician', sessionId: 's1' })
    expect(words('words-waiting')).toEqual(['waiting for the end user to confirm the security words…'])
    expect(words('words-confirmed')).toEqual(['confirmed: the end user says the security words match'])
    expect(words('words-unchecked')).toEqual([
      "the end user's computer runs unattended: nobody there compares the security words",
    ])
  })
})

describe('lineWriter', () => {
  const ended: SessionEvent = { event: 'ended', by: 'technician', reason: 'done' }
  const paired: SessionEvent = { event: 'paired', role: 'technician', sessionId: 's1', sas: SAS }

  it('writes one JSON line per event for scripts', () => {
    const lines: string[] = []
    const write = lineWriter(true, (line) => lines.push(line))
    write(paired)
    write(ended)
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([paired, ended])
    for (const line of lines) expect(line).not.toContain('\n')
  })

  it('writes the human sentences otherwise', () => {
    const lines: string[] = []
    const write = lineWriter(false, (line) => lines.push(line))
    write(paired)
    write(ended)
    expect(lines).toEqual([...describeEvent(paired), 'session ended: done'])
  })
})

describe('describeEvent around a restart (rescue reboot)', () => {
  it('tells the technician the end user’s computer is restarting and how long it is waited for', () => {
    const event: SessionEvent = {
      event: 'link-lost',
      role: 'technician',
      sessionId: 's',
      side: 'peer',
      graceMs: 15 * 60_000,
      restarting: true,
    }
    expect(describeEvent(event)).toEqual([
      "the end user's computer is restarting; waiting up to 15 min for it to come back (the end user runs rescue host --resume)…",
    ])
  })

  it('says the shell starts anew, with everything asked again, once the computer is back', () => {
    const [line] = describeEvent({ event: 'restarted', role: 'technician', sessionId: 's' })
    expect(line).toContain('the same host key')
    expect(line).toContain('a shell starts anew, and everything must be allowed again')
  })

  it('keeps an ordinary drop’s wording when the host is not restarting', () => {
    const [line] = describeEvent({
      event: 'link-lost',
      role: 'technician',
      sessionId: 's',
      side: 'peer',
      graceMs: 60_000,
    })
    expect(line).toBe("the end user's connection dropped; waiting up to 60 s for it to come back…")
  })
})
