/**
 * The gateway's store: accounts, PINs and the session log, behind one class whose queries are
 * plain Kysely and so dialect-agnostic. A dialect is one file (sqlite.ts today; PostgreSQL next)
 * and is chosen here. Imports nothing of ours but errors.
 */
import { Kysely, Migrator, type Selectable, type Updateable } from 'kysely'
import { migrationProvider } from './migrations.js'
import type {
  Database,
  OrganisationsTable,
  PinsTable,
  SessionEventsTable,
  SessionsTable,
  UsersTable,
} from './schema.js'
import { sqliteDialect } from './sqlite.js'
import { BugError } from '../errors.js'

export type { Database } from './schema.js'
export type User = Selectable<UsersTable>
export type Pin = Selectable<PinsTable>
export type SessionRow = Selectable<SessionsTable>
export type SessionEventRow = Selectable<SessionEventsTable>
export type UserWithOrganisation = User & { organisation_name: string }

export interface StoreOptions {
  /** Directory of the embedded SQLite database. */
  dataDir: string
}

/** Opens the store and brings its schema up to date. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const db = new Kysely<Database>({ dialect: sqliteDialect(options.dataDir) })
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest()
  if (error) {
    await db.destroy()
    throw new BugError(`database migration failed: ${String(error)}`)
  }
  return new Store(db)
}

export class Store {
  constructor(readonly db: Kysely<Database>) {}

  async close(): Promise<void> {
    await this.db.destroy()
  }

  async hasOrganisation(): Promise<boolean> {
    const row = await this.db.selectFrom('organisations').select('id').limit(1).executeTakeFirst()
    return row !== undefined
  }

  async createOrganisationWithAdmin(organisation: OrganisationsTable, admin: UsersTable): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.insertInto('organisations').values(organisation).execute()
      await tx.insertInto('users').values(admin).execute()
    })
  }

  private usersWithOrganisation() {
    return this.db
      .selectFrom('users')
      .innerJoin('organisations', 'organisations.id', 'users.organisation_id')
      .selectAll('users')
      .select('organisations.name as organisation_name')
  }

  async findUserByEmail(email: string): Promise<UserWithOrganisation | undefined> {
    return this.usersWithOrganisation().where('users.email', '=', email).executeTakeFirst()
  }

  async findUserById(id: string): Promise<UserWithOrganisation | undefined> {
    return this.usersWithOrganisation().where('users.id', '=', id).executeTakeFirst()
  }

  async insertToken(token: {
    id: string
    user_id: string
    token_hash: string
    created_at: string
    expires_at: string
  }) {
    await this.db.insertInto('tokens').values(token).execute()
  }

  /** The user a live token belongs to, if any. */
  async findUserByTokenHash(tokenHash: string, now: string): Promise<UserWithOrganisation | undefined> {
    const token = await this.db
      .selectFrom('tokens')
      .select('user_id')
      .where('token_hash', '=', tokenHash)
      .where('expires_at', '>', now)
      .executeTakeFirst()
    return token ? this.findUserById(token.user_id) : undefined
  }

  async deleteToken(tokenHash: string): Promise<void> {
    await this.db.deleteFrom('tokens').where('token_hash', '=', tokenHash).execute()
  }

  /** Inserts the PIN unless the same digits are live already; says whether it did. */
  async insertPinIfUnique(pin: PinsTable, now: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const live = await tx
        .selectFrom('pins')
        .select('id')
        .where('pin', '=', pin.pin)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst()
      if (live) return false
      await tx.insertInto('pins').values(pin).execute()
      return true
    })
  }

  /** The newest PIN with these digits, whatever its state, so callers can say why it is refused. */
  async findNewestPin(digits: string): Promise<Pin | undefined> {
    return this.db
      .selectFrom('pins')
      .selectAll()
      .where('pin', '=', digits)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst()
  }

  /** Marks a PIN used; false when somebody used it first. */
  async consumePin(id: string, at: string): Promise<boolean> {
    const result = await this.db
      .updateTable('pins')
      .set({ used_at: at })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  async insertSession(session: SessionsTable): Promise<void> {
    await this.db.insertInto('sessions').values(session).execute()
  }

  async updateSession(id: string, patch: Updateable<SessionsTable>): Promise<void> {
    await this.db.updateTable('sessions').set(patch).where('id', '=', id).execute()
  }

  async findSession(id: string): Promise<SessionRow | undefined> {
    return this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst()
  }

  async listSessions(): Promise<SessionRow[]> {
    return this.db.selectFrom('sessions').selectAll().orderBy('created_at', 'desc').execute()
  }

  async insertSessionEvent(event: SessionEventsTable): Promise<void> {
    await this.db.insertInto('session_events').values(event).execute()
  }

  async listSessionEvents(sessionId: string): Promise<SessionEventRow[]> {
    return this.db
      .selectFrom('session_events')
      .selectAll()
      .where('session_id', '=', sessionId)
      .orderBy('seq')
      .execute()
  }
}

/** Opens the store, runs `work` on it, and closes it whatever happens. */
export async function withStore<T>(options: StoreOptions, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(options)
  try {
    return await work(store)
  } finally {
    await store.close()
  }
}
