/**
 * Schema migrations, written with Kysely's schema builder in types both dialects share, so a new
 * dialect needs no migration of its own. Append only: a shipped migration never changes.
 */
import {
  sql,
  type ColumnDefinitionBuilder,
  type Kysely,
  type Migration,
  type MigrationProvider,
} from 'kysely'
import { newId } from '../ids.js'

type ColumnBuild = (column: ColumnDefinitionBuilder) => ColumnDefinitionBuilder

/** Every permission as of migration 0003 (consent/types.ts): a shipped migration never follows later changes. */
const PERMISSIONS_0003 =
  'shell,exec,files.send,files.receive,files.browse,sysinfo,record,transfer,private,single-prompt,reboot,url,clipboard'

const migrations: Record<string, Migration> = {
  '0001-accounts-pins-sessions': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('organisations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('organisation_id', 'text', (c) => c.notNull().references('organisations.id'))
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('password_salt', 'text', (c) => c.notNull())
        .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('pins')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('pin', 'text', (c) => c.notNull())
        .addColumn('technician_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('used_at', 'text')
        .execute()
      await db.schema.createIndex('pins_pin').on('pins').column('pin').execute()
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('pin_id', 'text')
        .addColumn('technician_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('paired_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('ended_by', 'text')
        .addColumn('end_reason', 'text')
        .addColumn('host_address', 'text')
        .addColumn('technician_address', 'text')
        .execute()
    },
  },
  '0002-session-events': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('session_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull().references('sessions.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('allowed', 'integer')
        .execute()
      await db.schema
        .createIndex('session_events_session')
        .on('session_events')
        .column('session_id')
        .execute()
    },
  },
  '0003-groups-policy-login-hardening-audit': {
    async up(db: Kysely<unknown>) {
      // One column per statement: SQLite's ALTER TABLE adds only one at a time.
      const add = (table: string, name: string, type: 'text' | 'integer', build?: ColumnBuild) =>
        db.schema.alterTable(table).addColumn(name, type, build).execute()
      const notNullDefault =
        (value: string | number): ColumnBuild =>
        (c) =>
          c.notNull().defaultTo(value)
      await add('users', 'role', 'text', notNullDefault('technician'))
      await add('users', 'kind', 'text', notNullDefault('person'))
      await add('users', 'must_change_password', 'integer', notNullDefault(0))
      await add('users', 'password_changed_at', 'text')
      await add('users', 'failed_logins', 'integer', notNullDefault(0))
      await add('users', 'locked_until', 'text')
      await add('users', 'totp_secret', 'text')
      await add('users', 'totp_confirmed', 'integer', notNullDefault(0))
      await add('users', 'totp_last_step', 'integer')
      await add('tokens', 'kind', 'text', notNullDefault('login'))
      await add('tokens', 'name', 'text')
      await add('tokens', 'last_used_at', 'text')

      await db.schema
        .createTable('groups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('organisation_id', 'text', (c) => c.notNull().references('organisations.id'))
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('allow', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('deny', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('require_2fa', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('ip_allow', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('idle_timeout_ms', 'integer')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute()
      for (const table of ['group_members', 'group_admins']) {
        await db.schema
          .createTable(table)
          .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addPrimaryKeyConstraint(`${table}_pk`, ['group_id', 'user_id'])
          .execute()
        await db.schema.createIndex(`${table}_user`).on(table).column('user_id').execute()
      }
      // Failed logins for emails that have no account, so they lock like real ones and a lock
      // does not tell an attacker which emails exist.
      await db.schema
        .createTable('login_failures')
        .addColumn('email', 'text', (c) => c.primaryKey())
        .addColumn('failed_logins', 'integer', (c) => c.notNull())
        .addColumn('locked_until', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('admin_audit')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull().unique())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('before', 'text')
        .addColumn('after', 'text')
        .addColumn('address', 'text')
        .execute()

      // Data made before groups existed: its admins become masters in an "admins" group that
      // allows everything, so they keep acting as technicians with every permission.
      await sql`UPDATE users SET role = 'master' WHERE is_admin = 1`.execute(db)
      // The maximum password age counts from the upgrade, not from account creation: nobody is
      // forced to change a password at the first login after it.
      const now = new Date().toISOString()
      await sql`UPDATE users SET password_changed_at = ${now}`.execute(db)
      const organisation = await sql<{ id: string }>`SELECT id FROM organisations LIMIT 1`.execute(db)
      const organisationId = organisation.rows[0]?.id
      if (organisationId) {
        const groupId = newId()
        await sql`INSERT INTO groups (id, organisation_id, name, allow, deny, require_2fa, ip_allow, created_at, updated_at)
          VALUES (${groupId}, ${organisationId}, 'admins', ${PERMISSIONS_0003}, '', 0, '', ${now}, ${now})`.execute(
          db,
        )
        await sql`INSERT INTO group_members (group_id, user_id) SELECT ${groupId}, id FROM users WHERE is_admin = 1`.execute(
          db,
        )
      }
    },
  },
  '0004-session-event-source-detail': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('session_events')
        .addColumn('source', 'text', (c) => c.notNull().defaultTo('technician'))
        .execute()
      await db.schema.alterTable('session_events').addColumn('detail', 'text').execute()
    },
  },
  '0005-session-queues': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('sessions').addColumn('channel_id', 'text').execute()
      await db.schema.alterTable('sessions').addColumn('taken_by', 'text').execute()
    },
  },
  '0006-channel-links': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('channel_links')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text')
        .execute()
    },
  },
  '0006-files-modify': {
    async up(db: Kysely<unknown>) {
      // files.browse no longer changes anything; files.modify does. The `admins` group allows
      // everything, and stores it as a list: a list holding every permission of 0003 gets the new
      // one. Other groups are left as they are: they may look, and now have to be let change.
      const everything = PERMISSIONS_0003.split(',')
      const groups = await sql<{
        id: string
        allow: string
      }>`SELECT id, allow FROM groups WHERE name = 'admins'`.execute(db)
      for (const group of groups.rows) {
        const allowed = group.allow.split(',')
        if (!everything.every((permission) => allowed.includes(permission))) continue
        if (allowed.includes('files.modify')) continue
        const allow = [...allowed, 'files.modify'].join(',')
        await sql`UPDATE groups SET allow = ${allow} WHERE id = ${group.id}`.execute(db)
      }
    },
  },
  // Numbered apart from the migrations written alongside it, so that they keep their order.
  '0010-session-resume': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('sessions').addColumn('host_resume_key', 'text').execute()
      await db.schema.alterTable('sessions').addColumn('technician_resume_key', 'text').execute()
    },
  },
  // Many gateways on one database: which gateway holds each live room, and the per-address
  // counts of failures, so that a guesser spreading tries over the gateways is slowed the same.
  '0011-gateway-cluster': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('gateways')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('seen_at', 'text', (c) => c.notNull())
        .execute()
      await db.schema.alterTable('sessions').addColumn('gateway_id', 'text').execute()
      await db.schema.alterTable('pins').addColumn('room_gateway', 'text').execute()
      await db.schema
        .createTable('address_failures')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('address_key', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createIndex('address_failures_lookup')
        .on('address_failures')
        .columns(['kind', 'address_key', 'at'])
        .execute()
    },
  },
  '0009-store-keys': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('store_keys')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute()
    },
  },
  '0013-compliance': {
    async up(db: Kysely<unknown>) {
      // One row per organisation: how long session logs are kept, and where session summaries go.
      await db.schema
        .createTable('compliance_settings')
        .addColumn('organisation_id', 'text', (c) => c.primaryKey().references('organisations.id'))
        .addColumn('retention_days', 'integer')
        .addColumn('webhook_url', 'text')
        .addColumn('webhook_secret', 'text')
        .addColumn('webhook_include_chat', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute()
      // Summaries waiting for (or done with) their POST, so a gateway that restarts keeps retrying.
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('last_attempt_at', 'text')
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('delivered_at', 'text')
        .addColumn('gave_up_at', 'text')
        .execute()
      await db.schema
        .createIndex('webhook_deliveries_due')
        .on('webhook_deliveries')
        .column('next_attempt_at')
        .execute()
      await db.schema
        .createIndex('webhook_deliveries_session')
        .on('webhook_deliveries')
        .column('session_id')
        .execute()
      await db.schema.createIndex('sessions_created').on('sessions').column('created_at').execute()
    },
  },
  '0012-recordings': {
    async up(db: Kysely<unknown>) {
      // off: nothing recorded for the gateway; required: every shell and command, output only;
      // required-input: the technician's keystrokes too.
      await db.schema
        .alterTable('groups')
        .addColumn('recording', 'text', (c) => c.notNull().defaultTo('off'))
        .execute()
      await db.schema
        .createTable('recording_keys')
        .addColumn('organisation_id', 'text', (c) => c.primaryKey())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('recordings')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('organisation_id', 'text', (c) => c.notNull())
        .addColumn('technician_id', 'text', (c) => c.notNull())
        .addColumn('channel', 'integer', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('complete', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('uploads', 'integer', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('key_fingerprint', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('recordings_session').on('recordings').column('session_id').execute()
      await db.schema.createIndex('recordings_started').on('recordings').column('started_at').execute()
    },
  },
  '0014-session-tools': {
    async up(db: Kysely<unknown>) {
      // Watching and typing in the end user's shared terminal (rescue host --share). As in 0006:
      // an `admins` group that allows everything of 0003 gets the new ones; other groups must be let.
      const everything = PERMISSIONS_0003.split(',')
      const groups = await sql<{
        id: string
        allow: string
      }>`SELECT id, allow FROM groups WHERE name = 'admins'`.execute(db)
      for (const group of groups.rows) {
        const allowed = group.allow.split(',')
        if (!everything.every((permission) => allowed.includes(permission))) continue
        const added = ['view', 'control'].filter((permission) => !allowed.includes(permission))
        if (added.length === 0) continue
        const allow = [...allowed, ...added].join(',')
        await sql`UPDATE groups SET allow = ${allow} WHERE id = ${group.id}`.execute(db)
      }
    },
  },
  // Several technicians in one session (rescue invite): each invited one pairs afresh in a session
  // of their own (the row's id), tied here to the session they were invited into. Kept in the
  // store so that any gateway of the database can let the end user's side and the invitee in.
  '0015-invitations': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('invitations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('from_id', 'text', (c) => c.notNull())
        .addColumn('to_id', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('invitations_session').on('invitations').column('session_id').execute()
      // Who leads the session now (may invite, may hand over); null: its technician.
      await db.schema.alterTable('sessions').addColumn('lead_id', 'text').execute()
    },
  },
  '0017-present': {
    async up(db: Kysely<unknown>) {
      // Showing the technician's own terminal to the end user (rescue present). As in 0014: an
      // `admins` group that allows everything of 0003 gets it; other groups must be let.
      const everything = PERMISSIONS_0003.split(',')
      const groups = await sql<{
        id: string
        allow: string
      }>`SELECT id, allow FROM groups WHERE name = 'admins'`.execute(db)
      for (const group of groups.rows) {
        const allowed = group.allow.split(',')
        if (!everything.every((permission) => allowed.includes(permission))) continue
        if (allowed.includes('present')) continue
        const allow = [...allowed, 'present'].join(',')
        await sql`UPDATE groups SET allow = ${allow} WHERE id = ${group.id}`.execute(db)
      }
    },
  },
}

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
}
