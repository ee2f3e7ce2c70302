import type { AccountRecord, AccountStore } from "../accounts/store.js";
import type { LookupCache } from "./lookup-cache.js";

export interface CachedAccountsDeps {
  store: AccountStore;
  /** Whole records, for auth (sig invalidation time) and profiles. */
  records: LookupCache<AccountRecord>;
  /** Existence alone, for senders and recipients. */
  existing: LookupCache<true>;
  /**
   * Drops the accounts from every node's caches, this one's at once; resolves
   * once the change is on the bus (see `createInvalidations`).
   */
  changed(userIds: readonly string[]): Promise<void>;
}

/**
 * The account store with its reads cached: existing accounts only (an absent
 * one is asked again, so a new account is found at once). Every write drops
 * the accounts it touched on every node before it returns.
 */
export function createCachedAccounts(deps: CachedAccountsDeps): AccountStore {
  const { store, records, existing, changed } = deps;
  return {
    async upsertAccounts(accounts, nowMs) {
      const result = await store.upsertAccounts(accounts, nowMs);
      await changed(result.updated);
      return result;
    },

    async deleteAccounts(userIds) {
      const deleted = await store.deleteAccounts(userIds);
      await changed(deleted);
      return deleted;
    },

    async updateSigsInvalidBefore(userId, atMs) {
      const found = await store.updateSigsInvalidBefore(userId, atMs);
      await changed([userId]);
      return found;
    },

    async selectAccount(userId) {
      const found = await records.getMany([userId], async ([id]) => {
        const record = id === undefined ? undefined : await store.selectAccount(id);
        return new Map(record === undefined ? [] : [[record.userId, record]]);
      });
      return found.get(userId);
    },

    async selectExistingUserIds(userIds) {
      // An account whose record is cached (its user authenticated here) exists.
      const known: string[] = [];
      const rest: string[] = [];
      for (const id of userIds) (records.peek(id) === undefined ? rest : known).push(id);
      const found = await existing.getMany(rest, async (missing) => {
        const ids = await store.selectExistingUserIds(missing);
        return new Map([...ids].map((id) => [id, true as const]));
      });
      return new Set([...known, ...found.keys()]);
    },
  };
}
