import type { Clock } from "../common/clock.js";

export interface LookupCacheOptions {
  /** An entry is served for this long after it was read; 0 turns the cache off. */
  ttlMs: number;
  /** Most entries kept; the oldest go first. */
  maxEntries: number;
  clock: Clock;
}

/**
 * A bounded read-through cache of store facts, kept correct by invalidation:
 * whoever changes a fact calls `invalidate` (on every node, through the bus);
 * the TTL only bounds how long a missed invalidation can be served.
 */
export interface LookupCache<V> {
  /**
   * The values of `keys`: cached ones at once, the rest from one call to
   * `load`, which answers the keys it found. Keys missing from its answer are
   * not cached (absent accounts, say, are asked again). A load that an
   * invalidation or `clear` overtook is answered but not cached, so a read
   * started before a change never outlives it in the cache.
   */
  getMany(
    keys: readonly string[],
    load: (missing: string[]) => Promise<Map<string, V>>,
  ): Promise<Map<string, V>>;
  /** The cached value of `key`, without loading it; undefined when not cached (or expired, or off). */
  peek(key: string): V | undefined;
  /** Drops the keys and makes loads of them already under way uncacheable. */
  invalidate(keys: Iterable<string>): void;
  /** `invalidate` of every key that starts with `prefix` (all facts of one group, say). */
  invalidatePrefix(prefix: string): void;
  /** Drops everything and makes every load under way uncacheable. */
  clear(): void;
  /** Off: nothing is served from or stored in the cache (e.g. while invalidations cannot arrive). */
  setEnabled(enabled: boolean): void;
  size(): number;
}

interface Entry<V> {
  value: V;
  expiresAtMs: number;
}

export function createLookupCache<V>(options: LookupCacheOptions): LookupCache<V> {
  const { ttlMs, maxEntries, clock } = options;
  const usable = ttlMs > 0 && maxEntries > 0;
  let enabled = usable;
  const entries = new Map<string, Entry<V>>();
  // Every load and every invalidation takes the next tick. A load may store a
  // key's answer only if neither the key nor the whole cache was invalidated
  // after the load began: a read that started before a change never outlives it.
  let tick = 0;
  let clearedAt = 0;
  const invalidatedAt = new Map<string, number>();
  const prefixInvalidatedAt = new Map<string, number>();
  const loadsUnderWay = new Set<number>();

  const stillCurrent = (key: string, loadTick: number) => {
    if (clearedAt >= loadTick || (invalidatedAt.get(key) ?? 0) >= loadTick) return false;
    for (const [prefix, at] of prefixInvalidatedAt) {
      if (at >= loadTick && key.startsWith(prefix)) return false;
    }
    return true;
  };

  const store = (key: string, value: V, now: number) => {
    entries.delete(key); // re-inserted last: the map stays in age order
    entries.set(key, { value, expiresAtMs: now + ttlMs });
    while (entries.size > maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest === undefined) break;
      entries.delete(oldest);
    }
  };

  // Only invalidations newer than the oldest load under way can still matter.
  const forgetOldInvalidations = () => {
    if (loadsUnderWay.size === 0) {
      invalidatedAt.clear();
      prefixInvalidatedAt.clear();
      return;
    }
    // Ticks only grow and the set keeps insertion order: its first is the oldest.
    const oldest = loadsUnderWay.values().next().value ?? tick;
    for (const [key, at] of invalidatedAt) if (at < oldest) invalidatedAt.delete(key);
    for (const [key, at] of prefixInvalidatedAt) if (at < oldest) prefixInvalidatedAt.delete(key);
  };

  return {
    async getMany(keys, load) {
      const found = new Map<string, V>();
      const missing = new Set<string>();
      const now = clock();
      for (const key of keys) {
        const entry = enabled ? entries.get(key) : undefined;
        if (entry !== undefined && entry.expiresAtMs > now) found.set(key, entry.value);
        else missing.add(key);
      }
      if (missing.size === 0) return found;
      const loadTick = ++tick;
      loadsUnderWay.add(loadTick);
      let loaded: Map<string, V>;
      try {
        loaded = await load([...missing]);
      } finally {
        loadsUnderWay.delete(loadTick);
      }
      const storedAt = clock();
      for (const key of missing) {
        const value = loaded.get(key);
        if (value === undefined) continue;
        found.set(key, value);
        if (enabled && stillCurrent(key, loadTick)) store(key, value, storedAt);
      }
      forgetOldInvalidations();
      return found;
    },

    peek(key) {
      const entry = enabled ? entries.get(key) : undefined;
      return entry !== undefined && entry.expiresAtMs > clock() ? entry.value : undefined;
    },

    invalidate(keys) {
      const at = ++tick;
      for (const key of keys) {
        entries.delete(key);
        if (loadsUnderWay.size > 0) invalidatedAt.set(key, at);
      }
    },

    invalidatePrefix(prefix) {
      const at = ++tick;
      for (const key of entries.keys()) if (key.startsWith(prefix)) entries.delete(key);
      if (loadsUnderWay.size > 0) prefixInvalidatedAt.set(prefix, at);
    },

    clear() {
      entries.clear();
      clearedAt = ++tick;
    },

    setEnabled(on) {
      enabled = on && usable;
      entries.clear();
      clearedAt = ++tick;
    },

    size: () => entries.size,
  };
}
