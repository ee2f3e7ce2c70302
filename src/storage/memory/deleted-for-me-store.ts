import {
  type DeletedForMeRecord,
  type DeletedForMeStore,
  normalizeDeletedForMe,
} from "../../conversations/deleted-for-me-store.js";

export function createMemoryDeletedForMeStore(): DeletedForMeStore {
  const records = new Map<string, DeletedForMeRecord>();
  const keyOf = (owner: string, conversationId: string) => `${owner}\n${conversationId}`;
  const copy = (r: DeletedForMeRecord): DeletedForMeRecord => ({
    ...r,
    deletedSeqs: [...r.deletedSeqs],
  });
  const current = (owner: string, conversationId: string): DeletedForMeRecord =>
    records.get(keyOf(owner, conversationId)) ?? {
      ownerUserId: owner,
      conversationId,
      clearedUpToSeq: 0,
      deletedSeqs: [],
    };
  return {
    async selectDeletedForMe(owner, conversationId) {
      const r = records.get(keyOf(owner, conversationId));
      return r && copy(r);
    },
    async selectDeletedForMeMany(owner, conversationIds) {
      const found = new Map<string, DeletedForMeRecord>();
      for (const id of conversationIds) {
        const r = records.get(keyOf(owner, id));
        if (r !== undefined) found.set(id, copy(r));
      }
      return found;
    },
    async addDeletedSeqs(owner, conversationId, seqs, maxSeqs) {
      const before = current(owner, conversationId);
      const after = normalizeDeletedForMe({
        ...before,
        deletedSeqs: [...before.deletedSeqs, ...seqs],
      });
      if (after.deletedSeqs.length > maxSeqs) return "full";
      records.set(keyOf(owner, conversationId), after);
      return copy(after);
    },
    async clearDeletedForMe(owner, conversationId, upToSeq) {
      const before = current(owner, conversationId);
      const after = normalizeDeletedForMe({
        ...before,
        clearedUpToSeq: Math.max(before.clearedUpToSeq, upToSeq),
      });
      records.set(keyOf(owner, conversationId), after);
      return copy(after);
    },
    async deleteDeletedForMe(conversationId) {
      for (const [key, r] of records) {
        if (r.conversationId === conversationId) records.delete(key);
      }
    },
  };
}
