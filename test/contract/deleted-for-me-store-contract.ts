import { beforeEach, describe, expect, it } from "vitest";
import type { DeletedForMeStore } from "../../src/conversations/deleted-for-me-store.js";

/** What every DeletedForMeStore backend must do. `makeStore` returns an empty store. */
export function describeDeletedForMeStoreContract(
  makeStore: () => Promise<DeletedForMeStore>,
): void {
  describe("DeletedForMeStore", () => {
    let store: DeletedForMeStore;
    beforeEach(async () => {
      store = await makeStore();
    });
    const conv = "c2c:alice:bob";
    const marks = async (owner = "alice", conversationId = conv) => {
      const r = await store.selectDeletedForMe(owner, conversationId);
      return r && [r.clearedUpToSeq, r.deletedSeqs];
    };

    it("has no record before a delete, and keeps one per owner and conversation", async () => {
      expect(await marks()).toBeUndefined();
      expect(await store.addDeletedSeqs("alice", conv, [5, 2, 5], 10)).toEqual({
        ownerUserId: "alice",
        conversationId: conv,
        clearedUpToSeq: 0,
        deletedSeqs: [2, 5],
      });
      await store.addDeletedSeqs("bob", conv, [7], 10);
      await store.addDeletedSeqs("alice", "group-1", [1], 10);
      expect(await marks()).toEqual([0, [2, 5]]);
      expect(await marks("bob")).toEqual([0, [7]]);
      expect(await marks("alice", "group-1")).toEqual([0, [1]]);
    });

    it("adds seqs as a set: repeats change nothing, the order is ascending", async () => {
      await store.addDeletedSeqs("alice", conv, [9, 3], 10);
      const again = await store.addDeletedSeqs("alice", conv, [3, 4], 10);
      expect(again).not.toBe("full");
      expect(await marks()).toEqual([0, [3, 4, 9]]);
    });

    it("refuses an add past the cap with nothing written; seqs already there do not count twice", async () => {
      await store.addDeletedSeqs("alice", conv, [1, 2, 3], 4);
      expect(await store.addDeletedSeqs("alice", conv, [4, 5], 4)).toBe("full");
      expect(await marks()).toEqual([0, [1, 2, 3]]);
      expect(await store.addDeletedSeqs("alice", conv, [1, 2, 4], 4)).not.toBe("full");
      expect(await marks()).toEqual([0, [1, 2, 3, 4]]);
    });

    it("clears up to a seq: never lowered, covered seqs dropped (freeing the cap), seqs at or below ignored", async () => {
      await store.addDeletedSeqs("alice", conv, [2, 6, 8], 3);
      const cleared = await store.clearDeletedForMe("alice", conv, 6);
      expect([cleared.clearedUpToSeq, cleared.deletedSeqs]).toEqual([6, [8]]);
      expect(await marks()).toEqual([6, [8]]);
      expect((await store.clearDeletedForMe("alice", conv, 4)).clearedUpToSeq).toBe(6);
      await store.addDeletedSeqs("alice", conv, [1, 6, 9, 10], 3);
      expect(await marks()).toEqual([6, [8, 9, 10]]);
      // A clear creates the record too.
      expect((await store.clearDeletedForMe("bob", conv, 3)).deletedSeqs).toEqual([]);
      expect(await marks("bob")).toEqual([3, []]);
    });

    it("selects several conversations at once, absent ones left out", async () => {
      await store.addDeletedSeqs("alice", "a", [1], 10);
      await store.clearDeletedForMe("alice", "b", 4);
      await store.addDeletedSeqs("bob", "c", [1], 10);
      const many = await store.selectDeletedForMeMany("alice", ["a", "b", "c", "none"]);
      expect(
        [...many.values()]
          .map((r) => [r.conversationId, r.clearedUpToSeq, r.deletedSeqs])
          .sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      ).toEqual([
        ["a", 0, [1]],
        ["b", 4, []],
      ]);
      expect((await store.selectDeletedForMeMany("alice", [])).size).toBe(0);
    });

    it("drops every user's marks of a conversation, and only of it", async () => {
      await store.addDeletedSeqs("alice", "g", [1], 10);
      await store.clearDeletedForMe("bob", "g", 2);
      await store.addDeletedSeqs("alice", "other", [1], 10);
      await store.deleteDeletedForMe("g");
      await store.deleteDeletedForMe("never-seen");
      expect(await marks("alice", "g")).toBeUndefined();
      expect(await marks("bob", "g")).toBeUndefined();
      expect(await marks("alice", "other")).toEqual([0, [1]]);
    });
  });
}
