/**
 * The resume ticket a host keeps on disk across a restart (`rescue reboot`): what it needs to come
 * back into the same session as the same paired host: the session and gateway, the pairing's resume
 * key (to prove itself to the gateway), its own SSH host key (so the technician's client sees the
 * same host) and the technician's SSH key (the only one it lets in), with who the technician is and
 * the security words, shown again before the end user confirms.
 *
 * Sealed (XSalsa20-Poly1305, tweetnacl secretbox) under a random key of its own, which is kept in
 * the credential store the technicians' logins use (the OS keychain; a 0600 file in the config
 * folder where no keychain answers), never beside the ticket. The file is 0600 in the state
 * folder. One use: opening it for the resume forgets its key; it expires; a changed byte fails
 * to open. Imports core only.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import nacl from 'tweetnacl'
import { z } from 'zod'
import { permissions } from '../consent/types.js'
import { deleteSecret, findSecret, saveSecret } from '../credentials/index.js'
import { UserError } from '../errors.js'
import { stateDir } from '../paths.js'

/** How long a ticket may wait for `rescue host --resume`: the longest a gateway holds a restart by default. */
export const TICKET_LIFETIME_MS = 15 * 60_000

const identity = z.object({ name: z.string(), email: z.string(), organisation: z.string() })

const ticketContent = z.object({
  version: z.literal(1),
  sessionId: z.string().regex(/^[a-z0-9]{1,64}$/),
  server: z.string().max(2000),
  expiresAt: z.string(),
  resumeKey: z.string().regex(/^[A-Za-z0-9+/=]{44}$/),
  hostKey: z.string().max(4000),
  technicianKey: z.string().max(1000),
  technician: identity,
  sas: z.string().max(200),
  /** Who the organisation's key said the technician is, when the host checked it (--trust). */
  verified: z
    .object({
      email: z.string(),
      organisation: z.string(),
      caFingerprint: z.string(),
      deviceFingerprint: z.string(),
      validUntil: z.string(),
    })
    .optional(),
  policy: z.object({
    permissions: z.array(z.enum(permissions)),
    recording: z.enum(['off', 'required', 'required-input']),
  }),
  auditFile: z.string().max(4000).optional(),
})

export type ResumeTicket = z.infer<typeof ticketContent>

const ticketFile = z.object({
  rescueResumeTicket: z.literal(1),
  id: z.string().regex(/^[a-f0-9]{32}$/),
  nonce: z.string(),
  sealed: z.string(),
})

const secretName = (id: string) => `resume-ticket-${id}`

/** Where the ticket is kept: RESCUE_RESUME_TICKET, else the state folder. */
export function ticketPath(): string {
  return process.env.RESCUE_RESUME_TICKET ?? path.join(stateDir(), 'resume-ticket.json')
}

/** Seals and writes the ticket (0600); returns where, and where its key went. */
export function writeTicket(
  ticket: Omit<ResumeTicket, 'version' | 'expiresAt'>,
  lifetimeMs = TICKET_LIFETIME_MS,
  file = ticketPath(),
): { file: string; keyIn: 'keychain' | 'file' } {
  const content: ResumeTicket = {
    version: 1,
    ...ticket,
    expiresAt: new Date(Date.now() + lifetimeMs).toISOString(),
  }
  const id = randomBytes(16).toString('hex')
  const key = nacl.randomBytes(nacl.secretbox.keyLength)
  const nonce = nacl.randomBytes(nacl.secretbox.nonceLength)
  const sealed = nacl.secretbox(new TextEncoder().encode(JSON.stringify(content)), nonce, key)
  const keyIn = saveSecret(secretName(id), Buffer.from(key).toString('base64'))
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const temporary = `${file}.${process.pid}.tmp`
  const body = {
    rescueResumeTicket: 1,
    id,
    nonce: Buffer.from(nonce).toString('base64'),
    sealed: Buffer.from(sealed).toString('base64'),
  }
  fs.writeFileSync(temporary, `${JSON.stringify(body)}\n`, { mode: 0o600 })
  fs.renameSync(temporary, file)
  return { file, keyIn }
}

const NEW_PIN = 'ask your technician for a new PIN and run rescue host'

/**
 * Opens the ticket and uses it up (its key is forgotten, the file removed); a UserError that says
 * why when there is none, it was used, changed, or has expired.
 */
export function useTicket(file = ticketPath(), now = Date.now()): ResumeTicket {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    throw new UserError('usage', `there is no resume ticket at ${file}`, NEW_PIN)
  }
  let parsed: z.infer<typeof ticketFile>
  try {
    parsed = ticketFile.parse(JSON.parse(text))
  } catch {
    throw new UserError('failure', `the resume ticket at ${file} is damaged or was changed`, NEW_PIN)
  }
  const key = findSecret(secretName(parsed.id))
  // Forgotten at once: whatever follows, this ticket opens only once.
  deleteSecret(secretName(parsed.id))
  fs.rmSync(file, { force: true })
  if (!key) {
    throw new UserError(
      'failure',
      'this resume ticket was already used (or was not made on this computer for this user)',
      NEW_PIN,
    )
  }
  const opened = nacl.secretbox.open(
    Buffer.from(parsed.sealed, 'base64'),
    Buffer.from(parsed.nonce, 'base64'),
    Buffer.from(key.secret, 'base64'),
  )
  const content = opened && ticketContent.safeParse(safeJson(new TextDecoder().decode(opened)))
  if (!content || !content.success) {
    throw new UserError('failure', `the resume ticket at ${file} was changed: it does not open`, NEW_PIN)
  }
  if (Date.parse(content.data.expiresAt) <= now) {
    throw new UserError(
      'failure',
      `the resume ticket expired at ${content.data.expiresAt}: the session was given up`,
      NEW_PIN,
    )
  }
  return content.data
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
