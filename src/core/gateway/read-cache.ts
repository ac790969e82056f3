/**
 * The store as the pairing path reads it: a technician's account row and groups are read about
 * five times for one pairing (making the PIN, the upgrade, the policy sent to the host), and
 * change seldom, so they are kept for a moment (READ_CACHE_MS); a token's last use is written at
 * most once in that moment. A token is still looked up on every call, so a revoked or expired
 * token stops at once. What may lag by up to READ_CACHE_MS: a change to a user or their groups
 * made on another gateway of the same database (one made through this gateway clears the cache
 * at once: `clear()`), and the idle clock of a login token.
 */
import type { Group, Store, UserWithOrganisation } from '../store/index.js'

export const READ_CACHE_MS = 1000
/** A bound, so a flood of distinct users cannot grow the maps without limit between two sweeps. */
const MAX_ENTRIES = 10_000

interface Entry<T> {
  value: Promise<T>
  until: number
}

class ShortCache<T> {
  private readonly entries = new Map<string, Entry<T>>()

  constructor(private readonly ttlMs: number) {}

  get(key: string, load: () => Promise<T>, now = Date.now()): Promise<T> {
    const entry = this.entries.get(key)
    if (entry && entry.until > now) return entry.value
    if (this.entries.size >= MAX_ENTRIES) this.sweep(now)
    const value = load()
    this.entries.set(key, { value, until: now + this.ttlMs })
    // A failed read is not kept: the next caller asks the store again.
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key)
    })
    return value
  }

  sweep(now = Date.now()): void {
    for (const [key, entry] of this.entries) if (entry.until <= now) this.entries.delete(key)
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear()
  }

  clear(): void {
    this.entries.clear()
  }
}

/** A view of `store` whose hot reads are kept READ_CACHE_MS; every other method is the store's own. */
export function withReadCache(store: Store, ttlMs = READ_CACHE_MS): Store & { clearReadCache(): void } {
  const users = new ShortCache<UserWithOrganisation | undefined>(ttlMs)
  const groups = new ShortCache<Group[]>(ttlMs)
  /** When each token's last use was last written. */
  const touched = new Map<string, number>()
  const view = Object.create(store) as Store & { clearReadCache(): void }
  view.findUserById = (id) => users.get(id, () => store.findUserById(id))
  view.groupsOfUser = (userId) => groups.get(userId, () => store.groupsOfUser(userId))
  view.touchToken = async (id, at) => {
    const now = Date.parse(at)
    if ((touched.get(id) ?? -Infinity) > now - ttlMs) return
    if (touched.size >= MAX_ENTRIES) touched.clear()
    touched.set(id, now)
    await store.touchToken(id, at)
  }
  view.clearReadCache = () => {
    users.clear()
    groups.clear()
    touched.clear()
  }
  return view
}
