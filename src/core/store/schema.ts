/**
 * Table types of the gateway's store. Times are ISO-8601 UTC strings and flags are 0/1 integers,
 * so the same queries run unchanged on SQLite and PostgreSQL. `Generated` marks a column with a
 * default that an insert may leave out.
 */
import type { Generated } from 'kysely'

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
  /** 1 for the master admin (kept in step with role for older readers). */
  is_admin: number
  created_at: string
  /** master (from admin init: everything), admin (of the groups in group_admins), technician. */
  role: Generated<string>
  /** person (logs in with a password), script (the account behind a script token: no password). */
  kind: Generated<string>
  /** 1 after admin users add or reset-password: the next login must set a new password. */
  must_change_password: Generated<number>
  password_changed_at: string | null
  /** Consecutive failed logins since the last success or unlock. */
  failed_logins: Generated<number>
  locked_until: string | null
  /** The TOTP secret, sealed with the gateway's secret key (secret-box.ts); never in clear. */
  totp_secret: string | null
  /** 1 once the user confirmed the secret with a code; until then it is a pending enrolment. */
  totp_confirmed: Generated<number>
  /** The last TOTP time step accepted, so a code cannot be used twice. */
  totp_last_step: number | null
}

export interface TokensTable {
  id: string
  user_id: string
  token_hash: string
  created_at: string
  expires_at: string
  /** login (rescue login; idle timeout applies) or script (admin tokens create). */
  kind: Generated<string>
  /** The script token's name (unique among script tokens); null for login tokens. */
  name: string | null
  last_used_at: string | null
}

/** A technician group and its policy; permission lists are comma-separated names from consent/types.ts. */
export interface GroupsTable {
  id: string
  organisation_id: string
  name: string
  allow: string
  deny: string
  require_2fa: number
  /** Comma-separated CIDR blocks; empty for no restriction. */
  ip_allow: string
  idle_timeout_ms: number | null
  created_at: string
  updated_at: string
  /** Recording of shells and commands (0012): off, required, required-input. */
  recording: Generated<string>
}

export interface GroupMembersTable {
  group_id: string
  user_id: string
}

/** Which admins manage which groups. */
export interface GroupAdminsTable {
  group_id: string
  user_id: string
}

/** Lock state of emails without an account, so that locks reveal nothing; pruned after a day. */
export interface LoginFailuresTable {
  email: string
  failed_logins: number
  locked_until: string | null
  updated_at: string
}

/** Append-only trail of every login and admin action; never a password, hash, secret or token. */
export interface AdminAuditTable {
  id: string
  /** Order of writing (times can tie). */
  seq: number
  at: string
  /** Who: an email, a script token's name, or "-" when unknown (a failed login names the email tried in target). */
  actor: string
  action: string
  target: string | null
  /** JSON of the state before and after, for changes. */
  before: string | null
  after: string | null
  address: string | null
}

export interface PinsTable {
  id: string
  pin: string
  technician_id: string
  created_at: string
  expires_at: string
  used_at: string | null
  /** The gateway holding this PIN's waiting room, so the other side is relayed to it. */
  room_gateway: Generated<string | null>
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
  /** The group whose shared queue a `--channel` session waits in; null for a PIN session. */
  channel_id: string | null
  /** The technician who took the session from a queue; set once, atomically. */
  taken_by: string | null
  /**
   * The public keys each side's resume proofs verify with (resume-proof.ts), set once after
   * pairing: any gateway on this database can let a side whose link dropped back in.
   */
  host_resume_key: Generated<string | null>
  technician_resume_key: Generated<string | null>
  /** The gateway relaying this session now; another one takes it over when that one is gone. */
  gateway_id: Generated<string | null>
  /** Who leads the session now, when the lead was handed over (rescue lead); null: its technician. */
  lead_id: Generated<string | null>
}

/** A technician invited into a live session; they pair with the end user in a session of their own (`id`). */
export interface InvitationsTable {
  id: string
  /** The session they were invited into. */
  session_id: string
  from_id: string
  to_id: string
  /** SHA-256 of the secret the end user's side comes in with; the secret itself goes to it alone. */
  secret_hash: string
  created_at: string
  expires_at: string
  /** waiting, joined, removed (by the end user), ended. */
  state: string
}

/** A running gateway, as the others on the same database reach it. */
export interface GatewaysTable {
  id: string
  /** Where the other gateways open their WebSockets to this one. */
  url: string
  started_at: string
  /** Refreshed every few seconds while the gateway runs: a stale one is gone. */
  seen_at: string
}

/** One failure (a wrong PIN, a failed login) from an address, counted by every gateway. */
export interface AddressFailuresTable {
  kind: string
  address_key: string
  /** Milliseconds since the epoch. */
  at: number
}

/**
 * A secret link that lets end users into a group's shared queue (`rescue host --channel LINK`).
 * Only the SHA-256 of its secret is kept; revoking deletes the row.
 */
export interface ChannelLinksTable {
  id: string
  group_id: string
  /** Unique; how admins list and revoke it. */
  name: string
  secret_hash: string
  created_at: string
  /** Who made it (an email, or `token:NAME`). */
  created_by: string
  last_used_at: string | null
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
  store_keys: StoreKeysTable
  users: UsersTable
  tokens: TokensTable
  pins: PinsTable
  sessions: SessionsTable
  session_events: SessionEventsTable
  groups: GroupsTable
  group_members: GroupMembersTable
  group_admins: GroupAdminsTable
  admin_audit: AdminAuditTable
  login_failures: LoginFailuresTable
  channel_links: ChannelLinksTable
  gateways: GatewaysTable
  address_failures: AddressFailuresTable
  compliance_settings: ComplianceSettingsTable
  webhook_deliveries: WebhookDeliveriesTable
  recording_keys: RecordingKeysTable
  recordings: RecordingsTable
  invitations: InvitationsTable
}

/** An organisation's compliance settings (migration 0013); no row means the defaults. */
export interface ComplianceSettingsTable {
  organisation_id: string
  /** How long session logs are kept, in days; null for the default (two years). */
  retention_days: number | null
  /** Where session summaries are POSTed; null for none. */
  webhook_url: string | null
  /** The HMAC key, sealed with the gateway's secret key (secret-box.ts); never in clear. */
  webhook_secret: string | null
  /** 1 when summaries carry the chat transcript. */
  webhook_include_chat: Generated<number>
  updated_at: string
}

/** One session summary on its way to the CRM webhook; the body is sealed at rest. */
export interface WebhookDeliveriesTable {
  id: string
  session_id: string
  url: string
  /** The JSON summary, sealed with the gateway's secret key (it can hold chat). */
  body: string
  attempts: Generated<number>
  created_at: string
  next_attempt_at: string
  last_attempt_at: string | null
  /** The receiver's HTTP status on the last attempt; null when it did not answer. */
  last_status: number | null
  last_error: string | null
  delivered_at: string | null
  /** Set when retries ran out (a day after the session ended). */
  gave_up_at: string | null
}

/** The organisation's recording key: only its public half (recordings/seal.ts). */
export interface RecordingKeysTable {
  organisation_id: string
  /** base64 of the X25519 public key. */
  public_key: string
  fingerprint: string
  created_at: string
  created_by: string
}

/** One shell or exec channel's recording, sealed to the recording key: the gateway cannot read it. */
export interface RecordingsTable {
  id: string
  session_id: string
  organisation_id: string
  technician_id: string
  /** The host's SSH channel number. */
  channel: number
  kind: string
  started_at: string
  updated_at: string
  /** 1 once the channel closed and its last upload arrived; no upload changes it after. */
  complete: Generated<number>
  /** How many uploads replaced it so far (each carries the whole recording so far). */
  uploads: number
  /** Bytes of the sealed recording. */
  size: number
  key_fingerprint: string
  /** base64 of the sealed recording. */
  data: string
}

/**
 * Fingerprints of the keys kept outside the database (secret.key), so that a gateway started with
 * another key than the one the data was sealed with stops at once instead of failing logins.
 */
export interface StoreKeysTable {
  name: string
  /** SHA-256 of the key, hex: names the key without revealing it. */
  fingerprint: string
  created_at: string
}
