/**
 * The store's queries for compliance (core/compliance): session log reads for reports, the
 * organisation's retention and webhook settings, webhook deliveries, and the erasures of retention
 * and GDPR. Kept apart from index.ts so that the Store class stays about accounts and sessions;
 * plain Kysely, so both dialects run it.
 */
import type { Insertable, Selectable, Updateable } from 'kysely'
import type { Store } from './index.js'
import type { ComplianceSettingsTable, SessionsTable, WebhookDeliveriesTable } from './schema.js'

export type ComplianceSettingsRow = Selectable<ComplianceSettingsTable>
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>

/** Which sessions a report or an erasure is about. */
export interface SessionFilter {
  /** created_at >= from (ISO). */
  from?: string
  /** created_at < to (ISO). */
  to?: string
  /** Sessions whose technician (or taker) is one of these user ids. */
  technicianIds?: string[]
  /** Or whose shared queue was this group. */
  channelId?: string
}

export class ComplianceStore {
  constructor(readonly store: Store) {}

  private get db() {
    return this.store.db
  }

  async settings(organisationId: string): Promise<ComplianceSettingsRow | undefined> {
    return this.db
      .selectFrom('compliance_settings')
      .selectAll()
      .where('organisation_id', '=', organisationId)
      .executeTakeFirst()
  }

  /** Creates or changes the organisation's row. */
  async saveSettings(
    organisationId: string,
    patch: Omit<Updateable<ComplianceSettingsTable>, 'organisation_id'> & { updated_at: string },
  ): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const found = await tx
        .selectFrom('compliance_settings')
        .select('organisation_id')
        .where('organisation_id', '=', organisationId)
        .executeTakeFirst()
      if (found) {
        await tx
          .updateTable('compliance_settings')
          .set(patch)
          .where('organisation_id', '=', organisationId)
          .execute()
      } else {
        await tx
          .insertInto('compliance_settings')
          .values({
            retention_days: null,
            webhook_url: null,
            webhook_secret: null,
            ...patch,
            organisation_id: organisationId,
          })
          .execute()
      }
    })
  }

  /** Ended or not, newest first; `technicianIds` and `channelId` are alternatives (either matches). */
  async sessions(filter: SessionFilter): Promise<Selectable<SessionsTable>[]> {
    let query = this.db.selectFrom('sessions').selectAll()
    if (filter.from) query = query.where('created_at', '>=', filter.from)
    if (filter.to) query = query.where('created_at', '<', filter.to)
    const { technicianIds, channelId } = filter
    if (technicianIds || channelId) {
      query = query.where((eb) => {
        const alternatives = []
        if (technicianIds && technicianIds.length > 0) {
          alternatives.push(eb('technician_id', 'in', technicianIds), eb('taken_by', 'in', technicianIds))
        }
        if (channelId) alternatives.push(eb('channel_id', '=', channelId))
        return alternatives.length > 0 ? eb.or(alternatives) : eb.val(false)
      })
    }
    return query.orderBy('created_at', 'desc').execute()
  }

  /** Sessions that ended (or, never ended, began) before `cutoff`: what retention purges. */
  async sessionIdsOlderThan(cutoff: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .select('id')
      .where((eb) =>
        eb.or([
          eb('ended_at', '<', cutoff),
          eb.and([eb('ended_at', 'is', null), eb('created_at', '<', cutoff)]),
        ]),
      )
      .execute()
    return rows.map((row) => row.id)
  }

  /** Deletes sessions with their events and webhook deliveries, in one transaction; returns the counts. */
  async deleteSessions(
    ids: string[],
  ): Promise<{ sessions: number; events: number; webhookDeliveries: number }> {
    const counts = { sessions: 0, events: 0, webhookDeliveries: 0 }
    if (ids.length === 0) return counts
    await this.db.transaction().execute(async (tx) => {
      // In chunks: SQLite limits the number of bound parameters in one statement.
      for (let start = 0; start < ids.length; start += 500) {
        const chunk = ids.slice(start, start + 500)
        const events = await tx
          .deleteFrom('session_events')
          .where('session_id', 'in', chunk)
          .executeTakeFirst()
        const deliveries = await tx
          .deleteFrom('webhook_deliveries')
          .where('session_id', 'in', chunk)
          .executeTakeFirst()
        const sessions = await tx.deleteFrom('sessions').where('id', 'in', chunk).executeTakeFirst()
        counts.events += Number(events.numDeletedRows)
        counts.webhookDeliveries += Number(deliveries.numDeletedRows)
        counts.sessions += Number(sessions.numDeletedRows)
      }
    })
    return counts
  }

  async insertDelivery(delivery: Insertable<WebhookDeliveriesTable>): Promise<void> {
    await this.db.insertInto('webhook_deliveries').values(delivery).execute()
  }

  /** Deliveries still to be tried whose time has come, oldest first. */
  async dueDeliveries(now: string, limit: number): Promise<WebhookDeliveryRow[]> {
    return this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('delivered_at', 'is', null)
      .where('gave_up_at', 'is', null)
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .limit(limit)
      .execute()
  }

  /**
   * Takes a due delivery for one attempt by moving its next attempt to `leaseUntil`: true for
   * exactly one of several gateways racing for it.
   */
  async claimDelivery(row: WebhookDeliveryRow, leaseUntil: string): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: leaseUntil })
      .where('id', '=', row.id)
      .where('next_attempt_at', '=', row.next_attempt_at)
      .where('delivered_at', 'is', null)
      .where('gave_up_at', 'is', null)
      .executeTakeFirst()
    return result.numUpdatedRows === 1n
  }

  async updateDelivery(id: string, patch: Updateable<WebhookDeliveriesTable>): Promise<void> {
    await this.db.updateTable('webhook_deliveries').set(patch).where('id', '=', id).execute()
  }

  /** The newest deliveries, newest first. */
  async recentDeliveries(limit: number): Promise<WebhookDeliveryRow[]> {
    return this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(limit)
      .execute()
  }

  async deliveriesOf(sessionIds: string[]): Promise<WebhookDeliveryRow[]> {
    if (sessionIds.length === 0) return []
    return this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('session_id', 'in', sessionIds)
      .orderBy('created_at')
      .execute()
  }

  /** Deliveries finished (delivered or given up) before `cutoff`: their bodies are not kept longer than the log. */
  async deleteFinishedDeliveriesBefore(cutoff: string): Promise<number> {
    const result = await this.db
      .deleteFrom('webhook_deliveries')
      .where('created_at', '<', cutoff)
      .where((eb) => eb.or([eb('delivered_at', 'is not', null), eb('gave_up_at', 'is not', null)]))
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }

  async pinsOf(userId: string) {
    return this.db
      .selectFrom('pins')
      .select(['id', 'created_at', 'expires_at', 'used_at'])
      .where('technician_id', '=', userId)
      .orderBy('created_at')
      .execute()
  }

  async tokensOf(userId: string) {
    return this.db
      .selectFrom('tokens')
      .select(['id', 'kind', 'name', 'created_at', 'expires_at', 'last_used_at'])
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .execute()
  }

  /** Audit entries whose actor or target is `who`, or whose JSON mentions it, oldest first. */
  async auditAbout(who: string) {
    // LIKE treats _ and % as wildcards and escapes differ by dialect: narrowed exactly below.
    const pattern = `%${who}%`
    const rows = await this.db
      .selectFrom('admin_audit')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('actor', '=', who),
          eb('target', '=', who),
          eb('before', 'like', pattern),
          eb('after', 'like', pattern),
        ]),
      )
      .orderBy('seq')
      .execute()
    return rows.filter((row) =>
      [row.actor, row.target, row.before, row.after].some((text) => text?.includes(who)),
    )
  }

  /**
   * Replaces `who` by `pseudonym` in the audit trail's entries about them: the trail keeps that
   * things happened, no longer to whom. Returns how many entries changed.
   */
  async pseudonymiseAudit(who: string, pseudonym: string): Promise<number> {
    const rows = await this.auditAbout(who)
    const swap = (text: string | null) => (text === null ? null : text.split(who).join(pseudonym))
    await this.db.transaction().execute(async (tx) => {
      for (const row of rows) {
        await tx
          .updateTable('admin_audit')
          .set({
            actor: swap(row.actor) ?? row.actor,
            target: swap(row.target),
            before: swap(row.before),
            after: swap(row.after),
          })
          .where('id', '=', row.id)
          .execute()
      }
    })
    return rows.length
  }
}
