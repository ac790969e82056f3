/**
 * Schema migrations, written with Kysely's schema builder in types both dialects share, so a new
 * dialect needs no migration of its own. Append only: a shipped migration never changes.
 */
import { type Kysely, type Migration, type MigrationProvider } from 'kysely'

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
  '0003-session-event-source-detail': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('session_events')
        .addColumn('source', 'text', (c) => c.notNull().defaultTo('technician'))
        .execute()
      await db.schema.alterTable('session_events').addColumn('detail', 'text').execute()
    },
  },
}

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
}
