import type { ReceiptStore } from "../../receipts/store.js";

/** Single-process ReceiptStore; same semantics as MongoDB, nothing survives a restart. */
export function createMemoryReceiptStore(): ReceiptStore {
  // "<owner>|<conversation>" -> delivered seq.
  const delivered = new Map<string, number>();
  // message key -> readers.
  const readers = new Map<string, Set<string>>();
  // group id -> its message keys with readers.
  const keysOf = new Map<string, Set<string>>();
  const deliveredKey = (owner: string, conversationId: string) => `${owner}|${conversationId}`;

  return {
    async raiseDeliveredSeq(owner, conversationId, seq) {
      const key = deliveredKey(owner, conversationId);
      const before = delivered.get(key) ?? 0;
      const after = Math.max(before, seq);
      delivered.set(key, after);
      return { before, after };
    },
    async selectDeliveredSeq(owner, conversationId) {
      return delivered.get(deliveredKey(owner, conversationId)) ?? 0;
    },
    async insertGroupReads(reads) {
      let added = 0;
      for (const { groupId, messageKey, userId } of reads) {
        const keys = keysOf.get(groupId) ?? new Set<string>();
        keysOf.set(groupId, keys.add(messageKey));
        let set = readers.get(messageKey);
        if (set === undefined) {
          set = new Set();
          readers.set(messageKey, set);
        }
        if (set.has(userId)) continue;
        set.add(userId);
        added++;
      }
      return added;
    },
    async countGroupReads(messageKey) {
      return readers.get(messageKey)?.size ?? 0;
    },
    async selectGroupReaders(messageKey, afterUserId, limit) {
      return [...(readers.get(messageKey) ?? [])]
        .filter((u) => u > afterUserId)
        .sort()
        .slice(0, limit);
    },
    async selectGroupReadersAmong(messageKey, userIds) {
      const set = readers.get(messageKey);
      return new Set(userIds.filter((u) => set?.has(u) ?? false));
    },
    async deleteGroupReads(groupId) {
      for (const key of keysOf.get(groupId) ?? []) readers.delete(key);
      keysOf.delete(groupId);
    },
  };
}
