import type { RelationLookups } from "../relations/send-policy.js";
import type { RelationPair, RelationStore } from "../relations/store.js";
import type { LookupCache } from "./lookup-cache.js";

/** Cache key of one directed relation fact ("b": blocklist, "f": friends). */
export const relationKey = (fact: "b" | "f", ownerId: string, otherId: string) =>
  `${fact}\u0000${ownerId}\u0000${otherId}`;

/** Both facts of a pair: a write of either drops both. */
export const relationKeys = (pair: RelationPair) => [
  relationKey("b", pair.ownerId, pair.otherId),
  relationKey("f", pair.ownerId, pair.otherId),
];

/**
 * The relation store whose blocklist and friend writes drop the pairs they
 * touched from every node's caches before they return. Reads pass through.
 */
export function createNotifyingRelations(
  store: RelationStore,
  changed: (pairs: readonly RelationPair[]) => Promise<void>,
): RelationStore {
  const pairsOf = (ownerId: string, otherIds: readonly string[]) =>
    otherIds.map((otherId) => ({ ownerId, otherId }));
  return {
    ...store, // the adapters are plain objects of functions
    async insertFriends(records) {
      const inserted = await store.insertFriends(records);
      await changed(inserted);
      return inserted;
    },
    async deleteFriends(pairs) {
      const deleted = await store.deleteFriends(pairs);
      await changed(deleted);
      return deleted;
    },
    async insertBlocks(ownerId, blockedIds, nowMs) {
      const inserted = await store.insertBlocks(ownerId, blockedIds, nowMs);
      await changed(pairsOf(ownerId, inserted));
      return inserted;
    },
    async deleteBlocks(ownerId, blockedIds) {
      const deleted = await store.deleteBlocks(ownerId, blockedIds);
      await changed(pairsOf(ownerId, deleted));
      return deleted;
    },
  };
}

/**
 * What the one-to-one send policy asks, answered from a cache of pair facts
 * (blocked or not, friend or not; both answers are cached).
 */
export function createCachedRelationLookups(
  store: Pick<RelationStore, "selectBlockedAmong" | "selectFriends">,
  facts: LookupCache<boolean>,
): RelationLookups {
  const among = async (
    fact: "b" | "f",
    ownerId: string,
    otherIds: readonly string[],
    select: (missing: string[]) => Promise<Set<string>>,
  ) => {
    const keyOf = new Map(otherIds.map((id) => [relationKey(fact, ownerId, id), id]));
    const found = await facts.getMany([...keyOf.keys()], async (missingKeys) => {
      const missing = missingKeys.map((k) => keyOf.get(k) ?? "");
      const yes = await select(missing);
      return new Map(missing.map((id) => [relationKey(fact, ownerId, id), yes.has(id)]));
    });
    return new Set([...found].filter(([, yes]) => yes).map(([key]) => keyOf.get(key) ?? ""));
  };
  return {
    blockedAmong: (ownerId, otherIds) =>
      among("b", ownerId, otherIds, (missing) => store.selectBlockedAmong(ownerId, missing)),
    friendsAmong: (ownerId, otherIds) =>
      among("f", ownerId, otherIds, async (missing) => {
        return new Set((await store.selectFriends(ownerId, missing)).keys());
      }),
  };
}
