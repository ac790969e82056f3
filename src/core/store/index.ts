/**
 * The gateway's store: accounts, groups, tokens, the admin audit trail, PINs and the session log,
 * and the secret key beside the database (secret-key.ts), behind one class whose queries are
 * plain Kysely and so dialect-agnostic. A dialect is one file (sqlite.ts, postgres.ts), chosen
 * here from the options. Imports nothing of ours but errors and ids.
 */
import {
  Kysely,
  Migrator,
  sql,
  type CompiledQuery,
  type Insertable,
  type QueryResult,
  type Selectable,
  type Updateable,
} from 'kysely'
import { migrationProvider } from './migrations.js'
import type {
  InvitationsTable,
  GatewaysTable,
  AdminAuditTable,
  ChannelLinksTable,
  Database,
  GroupsTable,
  OrganisationsTable,
  PinsTable,
  SessionEventsTable,
  SessionsTable,
  TokensTable,
  UsersTable,
} from './schema.js'
import { isPostgresUrl, postgresDialect } from './postgres.js'
import { checkSecretKeyMatches, loadSecretKey } from './secret-key.js'
import { embeddedDatabase, type EmbeddedDatabase } from './sqlite.js'
import { PreparedQuery } from './prepared.js'
import { BugError, UserError } from '../errors.js'

export type { Database, SessionEventsTable } from './schema.js'
export type User = Selectable<UsersTable>
export type Group = Selectable<GroupsTable>
export type TokenRow = Selectable<TokensTable>
export type AdminAuditRow = Selectable<AdminAuditTable>
/** A user with the names of their groups (members) and of the groups they administer. */
export type UserWithGroups = UserWithOrganisation & { groups: string[]; adminOf: string[] }
export type Pin = Selectable<PinsTable>
export type SessionRow = Selectable<SessionsTable>
export type SessionEventRow = Selectable<SessionEventsTable>
export type ChannelLinkRow = Selectable<ChannelLinksTable>
export type GatewayRow = Selectable<GatewaysTable>
export type Invitation = Selectable<InvitationsTable>
export type UserWithOrganisation = User & { organisation_name: string }

/** Rows of one multi-row INSERT: 9 columns each, well under either database's parameter limit. */
const SESSION_EVENTS_PER_STATEMENT = 100

export interface StoreOptions {
  /** The gateway's data directory: the embedded SQLite database, and the secret keys for either. */
  dataDir: string
  /** A `postgres://` URL: keep the data there instead of in the embedded database. */
  databaseUrl?: string
}

/** Opens the store and brings its schema up to date. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const { databaseUrl } = options
  if (databaseUrl !== undefined && !isPostgresUrl(databaseUrl)) {
    throw new UserError(
      'usage',
      'the database URL must start with postgres:// or postgresql://',
      'leave --database out to use the embedded database in --data',
    )
  }
  // The embedded database makes the data folder (saying so when it cannot); a shared one is
  // not touched by a gateway without a usable key.
  const embedded = databaseUrl ? undefined : embeddedDatabase(options.dataDir)
  const secretKey = loadSecretKey(options.dataDir)
  const dialect = embedded?.dialect ?? (await postgresDialect(databaseUrl!))
  const db = new Kysely<Database>({ dialect })
  try {
    // Kysely's migrator takes a lock in the database, so gateways starting at once migrate once.
    // On PostgreSQL its tables are looked for in the connection's own schema: left to itself it
    // finds another schema's (a second service in the same database) and fails.
    const schema = isPostgresUrl(options.databaseUrl ?? '')
      ? (await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)).rows[0]?.schema
      : undefined
    const { error } = await new Migrator({
      db,
      provider: migrationProvider,
      ...(schema ? { migrationTableSchema: schema } : {}),
    }).migrateToLatest()
    if (error) throw new BugError(`database migration failed: ${String(error)}`)
    await checkSecretKeyMatches(db, secretKey)
  } catch (error) {
    await db.destroy()
    throw error
  }
  return new Store(db, secretKey, embedded)
}

/** The columns a session row is made with (the resume keys come after pairing). */
const SESSION_COLUMNS = [
  'id',
  'pin_id',
  'technician_id',
  'channel_id',
  'taken_by',
  'created_at',
  'paired_at',
  'ended_at',
  'ended_by',
  'end_reason',
  'host_address',
  'technician_address',
  'gateway_id',
] as const satisfies readonly (keyof SessionsTable)[]

/** The queries of every pairing, compiled once per store (prepared.ts); the SQL is the dialect's. */
function pairingQueries(db: Kysely<Database>) {
  const usersWithOrganisation = () =>
    db
      .selectFrom('users')
      .innerJoin('organisations', 'organisations.id', 'users.organisation_id')
      .selectAll('users')
      .select('organisations.name as organisation_name')
  return {
    userById: new PreparedQuery((id: string) => usersWithOrganisation().where('users.id', '=', id)),
    groupsOfUser: new PreparedQuery((userId: string) =>
      db
        .selectFrom('groups')
        .innerJoin('group_members', 'group_members.group_id', 'groups.id')
        .selectAll('groups')
        .where('group_members.user_id', '=', userId)
        .orderBy('groups.name'),
    ),
    liveToken: new PreparedQuery((tokenHash: string, now: string) =>
      db.selectFrom('tokens').selectAll().where('token_hash', '=', tokenHash).where('expires_at', '>', now),
    ),
    touchToken: new PreparedQuery((id: string, at: string) =>
      db.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id),
    ),
    // One statement, not a transaction of a read and a write: the same outcome (on SQLite one
    // statement is as atomic; on PostgreSQL neither form locks against a racing insert, whose
    // chance is a million to one), a third of the cost.
    insertPinUnlessLive: new PreparedQuery(
      (id: string, digits: string, technicianId: string, createdAt: string, expiresAt: string, now: string) =>
        db
          .insertInto('pins')
          .columns(['id', 'pin', 'technician_id', 'created_at', 'expires_at'])
          .expression(
            db
              .selectNoFrom((eb) => [
                eb.val(id).as('id'),
                eb.val(digits).as('pin'),
                eb.val(technicianId).as('technician_id'),
                eb.val(createdAt).as('created_at'),
                eb.val(expiresAt).as('expires_at'),
              ])
              .where(({ not, exists, selectFrom }) =>
                not(
                  exists(
                    selectFrom('pins')
                      .select('id')
                      .where('pin', '=', digits)
                      .where('used_at', 'is', null)
                      .where('expires_at', '>', now),
                  ),
                ),
              ),
          ),
    ),
    newestPin: new PreparedQuery((digits: string) =>
      db.selectFrom('pins').selectAll().where('pin', '=', digits).orderBy('created_at', 'desc').limit(1),
    ),
    consumePin: new PreparedQuery((id: string, at: string) =>
      db.updateTable('pins').set({ used_at: at }).where('id', '=', id).where('used_at', 'is', null),
    ),
    // PostgreSQL only (SQLite has no UPDATE in WITH): the PIN used and its session paired in one
    // round trip, the session only if this statement used the PIN.
    consumePinAndPair: new PreparedQuery(
      (pinId: string, at: string, id: string, hostAddress: string, technicianAddress: string) =>
        db
          .with('used', (cte) =>
            cte
              .updateTable('pins')
              .set({ used_at: at })
              .where('id', '=', pinId)
              .where('used_at', 'is', null)
              .returning('id'),
          )
          .updateTable('sessions')
          .set({ paired_at: at, host_address: hostAddress, technician_address: technicianAddress })
          .where('id', '=', id)
          .where(({ exists, selectFrom }) => exists(selectFrom('used').select('used.id'))),
    ),
    pairSession: new PreparedQuery(
      (id: string, pairedAt: string, hostAddress: string, technicianAddress: string) =>
        db
          .updateTable('sessions')
          .set({ paired_at: pairedAt, host_address: hostAddress, technician_address: technicianAddress })
          .where('id', '=', id),
    ),
    claimPinRoom: new PreparedQuery((pinId: string, gatewayId: string) =>
      db
        .updateTable('pins')
        .set({ room_gateway: gatewayId })
        .where('id', '=', pinId)
        .where((eb) => eb.or([eb('room_gateway', 'is', null), eb('room_gateway', '=', gatewayId)])),
    ),
    insertSession: new PreparedQuery((...values: (string | null)[]) =>
      db
        .insertInto('sessions')
        .values(Object.fromEntries(SESSION_COLUMNS.map((column, index) => [column, values[index]])) as never),
    ),
    endSession: new PreparedQuery(
      (endedAt: string, endedBy: string, reason: string, id: string, gatewayId: string) =>
        db
          .updateTable('sessions')
          .set({ ended_at: endedAt, ended_by: endedBy, end_reason: reason })
          .where('id', '=', id)
          .where((eb) => eb.or([eb('gateway_id', '=', gatewayId), eb('gateway_id', 'is', null)])),
    ),
    recentFailures: new PreparedQuery((kind: string, addressKey: string, since: number, limit: number) =>
      db
        .selectFrom('address_failures')
        .select('at')
        .where('kind', '=', kind)
        .where('address_key', '=', addressKey)
        .where('at', '>', since)
        .orderBy('at', 'desc')
        .limit(limit),
    ),
  }
}

export class Store {
  private readonly prepared: ReturnType<typeof pairingQueries>
  /** Where the prepared queries run: the embedded database at once when it can, else through kysely. */
  private readonly runner: Pick<Kysely<unknown>, 'executeQuery'>
  private readonly embedded?: Pick<EmbeddedDatabase, 'runNow' | 'transactionNow'>

  constructor(
    readonly db: Kysely<Database>,
    /** 32 bytes kept beside the database, not in it: seals TOTP secrets at rest. */
    readonly secretKey: Buffer,
    embedded?: Pick<EmbeddedDatabase, 'runNow' | 'transactionNow'>,
  ) {
    this.prepared = pairingQueries(db)
    this.embedded = embedded
    const runNow = embedded?.runNow
    this.runner = runNow
      ? {
          executeQuery: async <R>(query: CompiledQuery<R>) =>
            (runNow(query) as QueryResult<R> | undefined) ?? db.executeQuery(query),
        }
      : db
  }

  async close(): Promise<void> {
    await this.db.destroy()
  }

  async hasOrganisation(): Promise<boolean> {
    const row = await this.db.selectFrom('organisations').select('id').limit(1).executeTakeFirst()
    return row !== undefined
  }

  /** The organisation, its master admin, and a group the admin is a member of. */
  async createOrganisationWithAdmin(
    organisation: OrganisationsTable,
    admin: Insertable<UsersTable>,
    group: Insertable<GroupsTable>,
  ): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.insertInto('organisations').values(organisation).execute()
      await tx.insertInto('users').values(admin).execute()
      await tx.insertInto('groups').values(group).execute()
      await tx.insertInto('group_members').values({ group_id: group.id, user_id: admin.id }).execute()
    })
  }

  async findOrganisation(): Promise<OrganisationsTable | undefined> {
    return this.db.selectFrom('organisations').selectAll().limit(1).executeTakeFirst()
  }

  /** A new user, member of `memberOf` and admin of `adminOf` (group ids), in one transaction. */
  async insertUser(user: Insertable<UsersTable>, memberOf: string[], adminOf: string[] = []): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.insertInto('users').values(user).execute()
      for (const groupId of new Set(memberOf)) {
        await tx.insertInto('group_members').values({ group_id: groupId, user_id: user.id }).execute()
      }
      for (const groupId of new Set(adminOf)) {
        await tx.insertInto('group_admins').values({ group_id: groupId, user_id: user.id }).execute()
      }
    })
  }

  /** Replaces a user's memberships (and, when given, the groups they administer) in one transaction. */
  async setUserGroups(userId: string, memberOf: string[], adminOf?: string[]): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('group_members').where('user_id', '=', userId).execute()
      for (const groupId of new Set(memberOf)) {
        await tx.insertInto('group_members').values({ group_id: groupId, user_id: userId }).execute()
      }
      if (adminOf === undefined) return
      await tx.deleteFrom('group_admins').where('user_id', '=', userId).execute()
      for (const groupId of new Set(adminOf)) {
        await tx.insertInto('group_admins').values({ group_id: groupId, user_id: userId }).execute()
      }
    })
  }

  async updateUser(id: string, patch: Updateable<UsersTable>): Promise<void> {
    await this.db.updateTable('users').set(patch).where('id', '=', id).execute()
  }

  /**
   * Counts a login attempt against the account before its outcome is told (a lock that ran out
   * starts the count again), and returns the state after it. One statement, so attempts sent in
   * parallel each get their own count.
   */
  async reserveLoginAttempt(
    userId: string,
    now: string,
  ): Promise<{ failed_logins: number; locked_until: string | null }> {
    const expired = sql<boolean>`locked_until IS NOT NULL AND locked_until <= ${now}`
    return this.db
      .updateTable('users')
      .set({
        failed_logins: sql<number>`CASE WHEN ${expired} THEN 1 ELSE failed_logins + 1 END`,
        locked_until: sql<string | null>`CASE WHEN ${expired} THEN NULL ELSE locked_until END`,
      })
      .where('id', '=', userId)
      .returning(['failed_logins', 'locked_until'])
      .executeTakeFirstOrThrow()
  }

  /** Gives back a reserved attempt that turned out not to be a failure. */
  async releaseLoginAttempt(userId: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ failed_logins: sql<number>`CASE WHEN failed_logins > 0 THEN failed_logins - 1 ELSE 0 END` })
      .where('id', '=', userId)
      .execute()
  }

  /** Locks an account until `until` unless a lock is running already; returns the lock in force. */
  async lockUser(userId: string, until: string, now: string): Promise<string> {
    await this.db
      .updateTable('users')
      .set({ locked_until: until })
      .where('id', '=', userId)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
      .execute()
    const row = await this.db
      .selectFrom('users')
      .select('locked_until')
      .where('id', '=', userId)
      .executeTakeFirstOrThrow()
    return row.locked_until ?? until
  }

  /**
   * Records a TOTP step as used, and confirms the enrolment, unless this step or a later one was
   * used already: false then. One conditional update, so two logins racing with one code cannot
   * both win.
   */
  async claimTotpStep(userId: string, step: number): Promise<boolean> {
    const result = await this.db
      .updateTable('users')
      .set({ totp_last_step: step, totp_confirmed: 1 })
      .where('id', '=', userId)
      .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  /** Removes a user with their tokens, memberships and PINs (the store cascades). */
  async deleteUser(id: string): Promise<void> {
    await this.db.deleteFrom('users').where('id', '=', id).execute()
  }

  /** Every user of `kind` with their group names, by email. */
  async listUsers(kind: 'person' | 'script' = 'person'): Promise<UserWithGroups[]> {
    const users = await this.usersWithOrganisation()
      .where('users.kind', '=', kind)
      .orderBy('users.email')
      .execute()
    return Promise.all(users.map((user) => this.withGroups(user)))
  }

  async withGroups(user: UserWithOrganisation): Promise<UserWithGroups> {
    const [groups, adminOf] = await Promise.all([
      this.groupsOfUser(user.id),
      this.groupsAdministeredBy(user.id),
    ])
    return { ...user, groups: groups.map((g) => g.name), adminOf: adminOf.map((g) => g.name) }
  }

  async insertGroup(group: Insertable<GroupsTable>): Promise<void> {
    await this.db.insertInto('groups').values(group).execute()
  }

  async updateGroup(id: string, patch: Updateable<GroupsTable>): Promise<void> {
    await this.db.updateTable('groups').set(patch).where('id', '=', id).execute()
  }

  async findGroupByName(name: string): Promise<Group | undefined> {
    return this.db.selectFrom('groups').selectAll().where('name', '=', name).executeTakeFirst()
  }

  async listGroups(): Promise<Group[]> {
    return this.db.selectFrom('groups').selectAll().orderBy('name').execute()
  }

  /** The groups a user is a member of: their policy is the combination of these. */
  async groupsOfUser(userId: string): Promise<Group[]> {
    return (await this.prepared.groupsOfUser.execute(this.runner, userId)).rows
  }

  /** The groups an admin (role admin) manages. */
  async groupsAdministeredBy(userId: string): Promise<Group[]> {
    return this.db
      .selectFrom('groups')
      .innerJoin('group_admins', 'group_admins.group_id', 'groups.id')
      .selectAll('groups')
      .where('group_admins.user_id', '=', userId)
      .orderBy('groups.name')
      .execute()
  }

  /** The members of the group called `name` (none when there is no such group). */
  async membersOfGroup(name: string): Promise<UserWithOrganisation[]> {
    return this.usersWithOrganisation()
      .innerJoin('group_members', 'group_members.user_id', 'users.id')
      .innerJoin('groups', 'groups.id', 'group_members.group_id')
      .where('groups.name', '=', name)
      .orderBy('users.email')
      .execute()
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
    return (await this.prepared.userById.execute(this.runner, id)).rows[0]
  }

  async insertToken(token: Insertable<TokensTable>) {
    await this.db.insertInto('tokens').values(token).execute()
  }

  /** The user a live token belongs to, if any. */
  async findUserByTokenHash(tokenHash: string, now: string): Promise<UserWithOrganisation | undefined> {
    const token = await this.findLiveToken(tokenHash, now)
    return token ? this.findUserById(token.user_id) : undefined
  }

  /** A token that has not expired, by its hash. */
  async findLiveToken(tokenHash: string, now: string): Promise<TokenRow | undefined> {
    return (await this.prepared.liveToken.execute(this.runner, tokenHash, now)).rows[0]
  }

  /** A token by its hash, expired or not: to tell a caller why theirs is refused. */
  async findTokenByHash(tokenHash: string): Promise<TokenRow | undefined> {
    return this.db.selectFrom('tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()
  }

  async touchToken(id: string, at: string): Promise<void> {
    await this.prepared.touchToken.execute(this.runner, id, at)
  }

  async deleteToken(tokenHash: string): Promise<void> {
    await this.db.deleteFrom('tokens').where('token_hash', '=', tokenHash).execute()
  }

  async deleteTokenById(id: string): Promise<void> {
    await this.db.deleteFrom('tokens').where('id', '=', id).execute()
  }

  /** Script tokens (never their hashes) with the group their account belongs to. */
  async listScriptTokens(): Promise<
    {
      id: string
      name: string
      user_id: string
      created_at: string
      expires_at: string
      last_used_at: string | null
      group: string | null
    }[]
  > {
    const rows = await this.db
      .selectFrom('tokens')
      .leftJoin('group_members', 'group_members.user_id', 'tokens.user_id')
      .leftJoin('groups', 'groups.id', 'group_members.group_id')
      .select([
        'tokens.id',
        'tokens.name',
        'tokens.user_id',
        'tokens.created_at',
        'tokens.expires_at',
        'tokens.last_used_at',
        'groups.name as group',
      ])
      .where('tokens.kind', '=', 'script')
      .orderBy('tokens.name')
      .execute()
    return rows.map((row) => ({ ...row, name: row.name ?? '' }))
  }

  /** The lock state of an email that has no account. */
  async findLoginFailures(email: string): Promise<{ failed_logins: number; locked_until: string | null }> {
    const row = await this.db
      .selectFrom('login_failures')
      .select(['failed_logins', 'locked_until'])
      .where('email', '=', email)
      .executeTakeFirst()
    return row ?? { failed_logins: 0, locked_until: null }
  }

  /** Saves it, and forgets states older than `forgetBefore` so guessed emails cannot fill the disk. */
  async saveLoginFailures(
    email: string,
    state: { failed_logins: number; locked_until: string | null },
    now: string,
    forgetBefore: string,
  ): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('login_failures').where('updated_at', '<', forgetBefore).execute()
      await tx.deleteFrom('login_failures').where('email', '=', email).execute()
      await tx
        .insertInto('login_failures')
        .values({ email, ...state, updated_at: now })
        .execute()
    })
  }

  /** Appends to the admin audit trail; `seq` orders entries whose times tie. */
  async appendAudit(entry: Omit<AdminAuditTable, 'seq'>): Promise<void> {
    // The unique seq makes two writers that raced (two gateways on one PostgreSQL) retry.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.db.transaction().execute(async (tx) => {
          const last = await tx
            .selectFrom('admin_audit')
            .select((eb) => eb.fn.max('seq').as('seq'))
            .executeTakeFirst()
          await tx
            .insertInto('admin_audit')
            .values({ ...entry, seq: Number(last?.seq ?? 0) + 1 })
            .execute()
        })
        return
      } catch (error) {
        if (attempt >= 5) throw error
      }
    }
  }

  /** The newest `limit` audit entries, oldest first; `about` keeps those whose actor or target is in it. */
  async listAudit(options: { limit: number; about?: string[] }): Promise<AdminAuditRow[]> {
    let query = this.db.selectFrom('admin_audit').selectAll()
    const about = options.about
    if (about) {
      if (about.length === 0) return []
      query = query.where((eb) => eb.or([eb('actor', 'in', about), eb('target', 'in', about)]))
    }
    const rows = await query.orderBy('seq', 'desc').limit(options.limit).execute()
    return rows.reverse()
  }

  /** Inserts an unused PIN unless the same digits are live already; says whether it did. */
  async insertPinIfUnique(
    pin: Pick<Pin, 'id' | 'pin' | 'technician_id' | 'created_at' | 'expires_at'>,
    now: string,
  ): Promise<boolean> {
    const { id, technician_id: technicianId, created_at: createdAt, expires_at: expiresAt } = pin
    const result = await this.prepared.insertPinUnlessLive.execute(
      this.runner,
      id,
      pin.pin,
      technicianId,
      createdAt,
      expiresAt,
      now,
    )
    return result.numAffectedRows === 1n
  }

  /** The newest PIN with these digits, whatever its state, so callers can say why it is refused. */
  async findNewestPin(digits: string): Promise<Pin | undefined> {
    return (await this.prepared.newestPin.execute(this.runner, digits)).rows[0]
  }

  /** Marks a PIN used; false when somebody used it first. */
  async consumePin(id: string, at: string): Promise<boolean> {
    const result = await this.prepared.consumePin.execute(this.runner, id, at)
    return result.numAffectedRows === 1n
  }

  async insertSession(session: Insertable<SessionsTable>): Promise<void> {
    // The gateway's rows have these columns; anything else (tests set a few) is built each time.
    if (Object.keys(session).every((key) => (SESSION_COLUMNS as readonly string[]).includes(key))) {
      const values = SESSION_COLUMNS.map((column) => (session[column] ?? null) as string | null)
      await this.prepared.insertSession.execute(this.runner, ...values)
      return
    }
    await this.db.insertInto('sessions').values(session).execute()
  }

  /** Forgets the technician's resume key: they left on purpose, and may not come back that way. */
  async dropTechnicianResumeKey(id: string): Promise<void> {
    await this.db.updateTable('sessions').set({ technician_resume_key: null }).where('id', '=', id).execute()
  }

  /** Records the key a side's resume proofs verify with; the first one set stays. */
  async setResumeKey(id: string, role: 'host' | 'technician', key: string): Promise<void> {
    const column = role === 'host' ? 'host_resume_key' : 'technician_resume_key'
    await this.db
      .updateTable('sessions')
      .set({ [column]: key })
      .where('id', '=', id)
      .where(column, 'is', null)
      .execute()
  }

  /**
   * Takes a waiting session for `technicianId`: true for exactly one caller however many race,
   * false when someone took it first or it ended.
   */
  async takeSession(id: string, technicianId: string): Promise<boolean> {
    const result = await this.db
      .updateTable('sessions')
      .set({ taken_by: technicianId, technician_id: technicianId })
      .where('id', '=', id)
      .where('taken_by', 'is', null)
      .where('ended_at', 'is', null)
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  /** Forgets a session that ended before anyone took or paired it: nothing happened worth a row. */
  async deleteUnpairedSession(id: string): Promise<void> {
    await this.db
      .deleteFrom('sessions')
      .where('id', '=', id)
      .where('paired_at', 'is', null)
      .where('taken_by', 'is', null)
      .execute()
  }

  async countSessions(): Promise<number> {
    const row = await this.db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirst()
    return Number(row?.count ?? 0)
  }

  async insertChannelLink(link: ChannelLinksTable): Promise<void> {
    await this.db.insertInto('channel_links').values(link).execute()
  }

  /** Every channel link with its group's name, by name. */
  async listChannelLinks(): Promise<(ChannelLinkRow & { group: string })[]> {
    return this.db
      .selectFrom('channel_links')
      .innerJoin('groups', 'groups.id', 'channel_links.group_id')
      .selectAll('channel_links')
      .select('groups.name as group')
      .orderBy('channel_links.name')
      .execute()
  }

  /** The group a channel link's secret (by its hash) lets end users into, and the link's id, if it is live. */
  async findGroupByChannelSecret(secretHash: string): Promise<{ group: Group; linkId: string } | undefined> {
    const row = await this.db
      .selectFrom('channel_links')
      .innerJoin('groups', 'groups.id', 'channel_links.group_id')
      .selectAll('groups')
      .select('channel_links.id as link_id')
      .where('channel_links.secret_hash', '=', secretHash)
      .executeTakeFirst()
    if (!row) return undefined
    const { link_id: linkId, ...group } = row
    return { group, linkId }
  }

  async touchChannelLink(id: string, at: string): Promise<void> {
    await this.db.updateTable('channel_links').set({ last_used_at: at }).where('id', '=', id).execute()
  }

  async deleteChannelLink(id: string): Promise<void> {
    await this.db.deleteFrom('channel_links').where('id', '=', id).execute()
  }

  /**
   * Uses the PIN and marks its session paired (at `at`, with both sides' addresses); false, and
   * the session left as it was, when the PIN was used first, on any gateway.
   */
  async consumePinAndPair(
    pinId: string,
    id: string,
    at: string,
    hostAddress: string,
    technicianAddress: string,
  ): Promise<boolean> {
    const { prepared, runner, embedded } = this
    // SQLite: two short statements in one transaction run at once, one commit instead of two;
    // the PIN's single use is the first one's, as atomic as before.
    if (embedded) {
      const paired = embedded.transactionNow((run) => {
        if (run(prepared.consumePin.with(pinId, at)).numAffectedRows !== 1n) return false
        run(prepared.pairSession.with(id, at, hostAddress, technicianAddress))
        return true
      })
      if (paired !== undefined) return paired
      // A transaction of kysely's is open on the connection: the same two, through it.
      if (!(await this.consumePin(pinId, at))) return false
      await this.pairSession(id, at, hostAddress, technicianAddress)
      return true
    }
    const result = await prepared.consumePinAndPair.execute(
      runner,
      pinId,
      at,
      id,
      hostAddress,
      technicianAddress,
    )
    return result.numAffectedRows === 1n
  }

  /** Marks a session paired, with both sides' addresses. */
  async pairSession(
    id: string,
    pairedAt: string,
    hostAddress: string,
    technicianAddress: string,
  ): Promise<void> {
    await this.prepared.pairSession.execute(this.runner, id, pairedAt, hostAddress, technicianAddress)
  }

  async updateSession(id: string, patch: Updateable<SessionsTable>): Promise<void> {
    await this.db.updateTable('sessions').set(patch).where('id', '=', id).execute()
  }

  /** Ends a session held by `gatewayId` (or by none); false when another gateway took it over. */
  async endSession(
    id: string,
    gatewayId: string,
    ending: Pick<Updateable<SessionsTable>, 'ended_at' | 'ended_by' | 'end_reason'>,
  ): Promise<boolean> {
    const { ended_at: endedAt, ended_by: endedBy, end_reason: reason } = ending
    if (typeof endedAt === 'string' && typeof endedBy === 'string' && typeof reason === 'string') {
      const result = await this.prepared.endSession.execute(
        this.runner,
        endedAt,
        endedBy,
        reason,
        id,
        gatewayId,
      )
      return result.numAffectedRows === 1n
    }
    const result = await this.db
      .updateTable('sessions')
      .set(ending)
      .where('id', '=', id)
      .where((eb) => eb.or([eb('gateway_id', '=', gatewayId), eb('gateway_id', 'is', null)]))
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
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

  /** Many rows of the session log in one transaction (one commit, one WAL append on SQLite). */
  async insertSessionEvents(events: SessionEventsTable[]): Promise<void> {
    if (events.length <= SESSION_EVENTS_PER_STATEMENT) {
      if (events.length > 0) await this.db.insertInto('session_events').values(events).execute()
      return
    }
    await this.db.transaction().execute(async (trx) => {
      for (let at = 0; at < events.length; at += SESSION_EVENTS_PER_STATEMENT) {
        await trx
          .insertInto('session_events')
          .values(events.slice(at, at + SESSION_EVENTS_PER_STATEMENT))
          .execute()
      }
    })
  }

  async listSessionEvents(sessionId: string): Promise<SessionEventRow[]> {
    return this.db
      .selectFrom('session_events')
      .selectAll()
      .where('session_id', '=', sessionId)
      .orderBy('seq')
      .execute()
  }

  // Many gateways on one database (gateway/cluster.ts): who is running, who holds which room.

  async registerGateway(gateway: GatewayRow): Promise<void> {
    await this.db.insertInto('gateways').values(gateway).execute()
  }

  async touchGateway(id: string, at: string): Promise<void> {
    await this.db.updateTable('gateways').set({ seen_at: at }).where('id', '=', id).execute()
  }

  async removeGateway(id: string): Promise<void> {
    await this.db.deleteFrom('gateways').where('id', '=', id).execute()
  }

  async findGateway(id: string): Promise<GatewayRow | undefined> {
    return this.db.selectFrom('gateways').selectAll().where('id', '=', id).executeTakeFirst()
  }

  /** Gateways heard from since `since`. */
  async liveGateways(since: string): Promise<GatewayRow[]> {
    return this.db.selectFrom('gateways').selectAll().where('seen_at', '>=', since).execute()
  }

  /**
   * Makes `gatewayId` the holder of this PIN's waiting room: true when it already was, nobody
   * was, or the holder was `insteadOf` (a gateway found gone); false when another holds it.
   */
  async claimPinRoom(pinId: string, gatewayId: string, insteadOf?: string): Promise<boolean> {
    if (!insteadOf) {
      return (await this.prepared.claimPinRoom.execute(this.runner, pinId, gatewayId)).numAffectedRows === 1n
    }
    const result = await this.db
      .updateTable('pins')
      .set({ room_gateway: gatewayId })
      .where('id', '=', pinId)
      .where((eb) =>
        eb.or([
          eb('room_gateway', 'is', null),
          eb('room_gateway', '=', gatewayId),
          ...(insteadOf ? [eb('room_gateway', '=', insteadOf)] : []),
        ]),
      )
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  async findPinById(id: string): Promise<Pin | undefined> {
    return this.db.selectFrom('pins').selectAll().where('id', '=', id).executeTakeFirst()
  }

  /** Lets go of a PIN's room that ended unpaired, so either side may start it again anywhere. */
  async releasePinRoom(pinId: string, gatewayId: string): Promise<void> {
    await this.db
      .updateTable('pins')
      .set({ room_gateway: null })
      .where('id', '=', pinId)
      .where('room_gateway', '=', gatewayId)
      .execute()
  }

  /** Takes a live session over from `from` (a gateway found gone); true for exactly one taker. */
  async claimSession(id: string, gatewayId: string, from: string | null): Promise<boolean> {
    const result = await this.db
      .updateTable('sessions')
      .set({ gateway_id: gatewayId })
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .where((eb) => (from === null ? eb('gateway_id', 'is', null) : eb('gateway_id', '=', from)))
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  /**
   * Forgets what gateways gone since before `goneBefore` left: rooms that never paired (their end
   * users are long gone with the gateway) and, after a day, the gateways' rows themselves.
   */
  async forgetGoneGateways(goneBefore: string, rowsBefore: string): Promise<void> {
    const gone = this.db.selectFrom('gateways').select('id').where('seen_at', '<', goneBefore)
    await this.db
      .deleteFrom('sessions')
      .where('gateway_id', 'in', gone)
      .where('paired_at', 'is', null)
      .where('taken_by', 'is', null)
      .where('ended_at', 'is', null)
      .execute()
    await this.db.deleteFrom('gateways').where('seen_at', '<', rowsBefore).execute()
  }

  /** End users waiting on other gateways that are alive: what a queue lists beside its own rooms. */
  async waitingElsewhere(
    gatewayId: string,
    aliveSince: string,
  ): Promise<(SessionRow & { channel_name: string | null })[]> {
    return this.db
      .selectFrom('sessions')
      .innerJoin('gateways', 'gateways.id', 'sessions.gateway_id')
      .leftJoin('groups', 'groups.id', 'sessions.channel_id')
      .selectAll('sessions')
      .select('groups.name as channel_name')
      .where('sessions.gateway_id', '!=', gatewayId)
      .where('gateways.seen_at', '>=', aliveSince)
      .where('sessions.paired_at', 'is', null)
      .where('sessions.ended_at', 'is', null)
      .where('sessions.taken_by', 'is', null)
      .where('sessions.host_address', 'is not', null)
      .execute()
  }

  // Invitations into a live session (rescue invite), in the store so that every gateway sees them.

  async insertInvitation(invitation: InvitationsTable): Promise<void> {
    await this.db.insertInto('invitations').values(invitation).execute()
  }

  async findInvitation(id: string): Promise<Invitation | undefined> {
    return this.db.selectFrom('invitations').selectAll().where('id', '=', id).executeTakeFirst()
  }

  async findInvitationBySecretHash(secretHash: string): Promise<Invitation | undefined> {
    return this.db
      .selectFrom('invitations')
      .selectAll()
      .where('secret_hash', '=', secretHash)
      .executeTakeFirst()
  }

  /** Moves an invitation on; `from` guards a change that only one state may make. */
  async setInvitationState(id: string, state: string, from?: string): Promise<boolean> {
    let query = this.db.updateTable('invitations').set({ state }).where('id', '=', id)
    if (from !== undefined) query = query.where('state', '=', from)
    const result = await query.executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  // Failures per address, counted across gateways (gateway/shared-limiter.ts).

  async recordAddressFailure(kind: string, addressKey: string, at: number): Promise<void> {
    await this.db.insertInto('address_failures').values({ kind, address_key: addressKey, at }).execute()
  }

  /** The newest `limit` failures of this kind from this address since `since`, newest first. */
  async recentAddressFailures(
    kind: string,
    addressKey: string,
    since: number,
    limit: number,
  ): Promise<number[]> {
    const { rows } = await this.prepared.recentFailures.execute(this.runner, kind, addressKey, since, limit)
    // PostgreSQL returns a bigint as a string.
    return rows.map((row) => Number(row.at))
  }

  async pruneAddressFailures(before: number): Promise<void> {
    await this.db.deleteFrom('address_failures').where('at', '<=', before).execute()
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
