/**
 * Table types of the gateway's store. Times are ISO-8601 UTC strings and flags are 0/1 integers,
 * so the same queries run unchanged on SQLite and PostgreSQL.
 */
export interface OrganisationsTable {
  id: string
  name: string
  created_at: string
}

export interface UsersTable {
  id: string
  organisation_id: string
  email: string
  name: string
  password_hash: string
  password_salt: string
  is_admin: number
  created_at: string
}

export interface TokensTable {
  id: string
  user_id: string
  token_hash: string
  created_at: string
  expires_at: string
}

export interface PinsTable {
  id: string
  pin: string
  technician_id: string
  created_at: string
  expires_at: string
  used_at: string | null
}

export interface SessionsTable {
  id: string
  pin_id: string | null
  technician_id: string | null
  created_at: string
  paired_at: string | null
  ended_at: string | null
  ended_by: string | null
  end_reason: string | null
  host_address: string | null
  technician_address: string | null
}

/** What the technician's side reported during a session: never payload, output or command lines. */
export interface SessionEventsTable {
  id: string
  session_id: string
  /** Order of arrival within the session (times can tie). */
  seq: number
  at: string
  event: string
  kind: string
  /** For consent decisions: 1 allowed, 0 denied. */
  allowed: number | null
  /** Which side reported it: 'host' or 'technician'. */
  source: string
  /** The rest of the event (a file's name and hash, a chat line) as JSON, sealed by the gateway's LogCipher. */
  detail: string | null
}

export interface Database {
  organisations: OrganisationsTable
  users: UsersTable
  tokens: TokensTable
  pins: PinsTable
  sessions: SessionsTable
  session_events: SessionEventsTable
}
