/**
 * The session log's rows as they arrive (the sides' reports, the gateway's own events), written
 * together: every row handed in during one turn of the event loop goes into the store in one
 * transaction at its end. A host reports each file of a tree (a consent decision, then the file's
 * name and hash), and one SQLite commit per report cost the gateway as much CPU as relaying the
 * file's frames. Rows wait no longer than the current turn (setImmediate runs before the loop
 * sleeps again), so a crash of the gateway loses no more than it did with one insert each.
 * Imports the store only.
 */
import type { SessionEventsTable, Store } from '../store/index.js'

export class SessionLogWriter {
  private rows: SessionEventsTable[] = []
  private written: Promise<void> = Promise.resolve()
  private resolveWritten: () => void = () => {}

  constructor(
    private readonly store: Store,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Queues a row for this turn's transaction; resolves once it is stored (or its error reported). */
  add(row: SessionEventsTable): Promise<void> {
    this.rows.push(row)
    if (this.rows.length === 1) {
      this.written = new Promise((resolve) => (this.resolveWritten = resolve))
      setImmediate(() => void this.flush())
    }
    return this.written
  }

  /** Writes what is queued now; resolves once it is stored. */
  async flush(): Promise<void> {
    const rows = this.rows
    if (rows.length === 0) return this.written
    const resolve = this.resolveWritten
    this.rows = []
    try {
      await this.store.insertSessionEvents(rows)
    } catch {
      // One bad row (its session's own row not stored yet, say) must not cost the others theirs.
      for (const row of rows) await this.store.insertSessionEvent(row).catch(this.onError)
    } finally {
      resolve()
    }
  }
}
