import { create } from "@bufbuild/protobuf";
import { beforeEach, describe, expect, it } from "vitest";
import type { GroupMessageRecord, GroupMessageStore } from "../../src/conversations/group/store.js";
import { GroupMessageKind, GroupMessageSchema } from "../../src/gen/im/v1/group_pb.js";
import { MessageRecallSchema } from "../../src/gen/im/v1/recall_pb.js";

const G = "g:1 with spaces";

export const groupRecord = (
  groupId: string,
  seq: number,
  over: { timeMs?: number; dedupKey?: string; unpublished?: boolean },
): GroupMessageRecord => record(seq, { ...over, groupId });

function record(
  seq: number,
  over: Partial<{
    groupId: string;
    timeMs: number;
    from: string;
    kind: GroupMessageKind;
    noUnread: boolean;
    dedupKey: string;
    unpublished: boolean;
    atUserIds: string[];
    atAll: boolean;
    needReadReceipt: boolean;
  }> = {},
): GroupMessageRecord {
  const groupId = over.groupId ?? G;
  return {
    message: create(GroupMessageSchema, {
      groupId,
      seq: BigInt(seq),
      messageKey: `${groupId}:${seq}`,
      kind: over.kind ?? GroupMessageKind.NORMAL,
      fromUserId: over.from ?? "alice",
      timeMs: BigInt(over.timeMs ?? 1000 + seq),
      body: [{ element: { case: "text", value: { text: `m${seq}` } } }],
      noUnread: over.noUnread ?? false,
      atUserIds: over.atUserIds ?? [],
      atAll: over.atAll ?? false,
      needReadReceipt: over.needReadReceipt ?? false,
    }),
    dedupKey: over.dedupKey,
    unpublished: over.unpublished ?? false,
    skipAfterSendWebhook: false,
    skipSyncToSender: false,
  };
}
const seqsOf = (ms: { seq: bigint }[]) => ms.map((m) => Number(m.seq));

/**
 * What every GroupMessageStore backend must do beyond the shared conversation
 * message port (conversation-messages-contract.ts). `makeStore` returns an empty store.
 */
export function describeGroupMessageStoreContract(
  makeStore: () => Promise<GroupMessageStore>,
): void {
  describe("GroupMessageStore", () => {
    let store: GroupMessageStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    it("counts unread: ordinary messages of others that count, above a seq and time", async () => {
      await store.insertMessage(record(1, { from: "bob" }));
      await store.insertMessage(record(2, { from: "bob" }));
      await store.insertMessage(record(3, { from: "alice" }));
      await store.insertMessage(record(4, { from: "bob", noUnread: true }));
      await store.insertMessage(record(5, { from: "", kind: GroupMessageKind.TIP }));
      await store.insertMessage(record(6, { from: "carol" }));
      expect(await store.countGroupUnread(G, "alice", 0, 0)).toBe(3);
      expect(await store.countGroupUnread(G, "alice", 1, 0)).toBe(2);
      expect(await store.countGroupUnread(G, "alice", 0, 1003)).toBe(1);
      expect(await store.countGroupUnread(G, "bob", 0, 0)).toBe(2);
      // Seqs the owner deleted for themselves do not count.
      expect(await store.countGroupUnread(G, "alice", 0, 0, [2, 6])).toBe(1);
      expect(await store.countGroupUnread(G, "alice", 1, 0, [])).toBe(2);
      // A recalled message no longer counts.
      const tombstone = record(6, { from: "carol" }).message;
      tombstone.body = [];
      tombstone.recall = create(MessageRecallSchema, {
        recalledByUserId: "carol",
        recalledAtMs: 9n,
      });
      expect(await store.recallMessage(tombstone)).toBe("recalled");
      expect(await store.countGroupUnread(G, "alice", 0, 0)).toBe(2);
    });

    it("finds mentions of a user and of everyone in others' messages above a seq and time", async () => {
      await store.insertMessage(record(1, { from: "bob", atUserIds: ["alice", "carol"] }));
      await store.insertMessage(record(2, { from: "bob", atAll: true }));
      await store.insertMessage(record(3, { from: "alice", atUserIds: ["alice"], atAll: true }));
      await store.insertMessage(record(4, { from: "bob", atUserIds: ["dave"] }));
      await store.insertMessage(record(5, { groupId: "other", from: "bob", atUserIds: ["erin"] }));
      expect(await store.selectGroupMentions(G, "alice", 0, 0)).toEqual({ me: true, all: true });
      expect(await store.selectGroupMentions(G, "alice", 1, 0)).toEqual({ me: false, all: true });
      expect(await store.selectGroupMentions(G, "alice", 2, 0)).toEqual({ me: false, all: false });
      expect(await store.selectGroupMentions(G, "carol", 0, 1002)).toEqual({
        me: false,
        all: true,
      });
      expect(await store.selectGroupMentions(G, "dave", 3, 0)).toEqual({ me: true, all: false });
      // Mentions in messages the user deleted for themselves are gone.
      expect(await store.selectGroupMentions(G, "alice", 0, 0, [1])).toEqual({
        me: false,
        all: true,
      });
      expect(await store.selectGroupMentions(G, "dave", 3, 0, [4])).toEqual({
        me: false,
        all: false,
      });
      // Alice's own message 3 (@alice, @all) flags others, not her (above seq 2);
      // other groups do not count.
      expect(await store.selectGroupMentions(G, "bob", 0, 0)).toEqual({ me: false, all: true });
      expect(await store.selectGroupMentions(G, "erin", 3, 0)).toEqual({ me: false, all: false });
    });

    it("does not count mentions in recalled messages", async () => {
      await store.insertMessage(record(1, { from: "bob", atUserIds: ["alice"], atAll: true }));
      expect(await store.selectGroupMentions(G, "alice", 0, 0)).toEqual({ me: true, all: true });
      const tombstone = record(1, { from: "bob", atUserIds: ["alice"], atAll: true }).message;
      tombstone.body = [];
      tombstone.recall = create(MessageRecallSchema, { recalledByUserId: "bob", recalledAtMs: 9n });
      expect(await store.recallMessage(tombstone)).toBe("recalled");
      expect(await store.selectGroupMentions(G, "alice", 0, 0)).toEqual({ me: false, all: false });
    });

    it("finds the receipt-requested messages of a seq range, not recalled, within time", async () => {
      await store.insertMessage(record(1, { from: "bob", needReadReceipt: true }));
      await store.insertMessage(record(2, { from: "bob" }));
      await store.insertMessage(record(3, { from: "carol", needReadReceipt: true }));
      await store.insertMessage(record(4, { from: "bob", needReadReceipt: true }));
      await store.insertMessage(record(5, { from: "bob", needReadReceipt: true }));
      await store.insertMessage(record(1, { groupId: "other", needReadReceipt: true }));
      const found = (afterSeq: number, upToSeq: number, minTimeMs = 0) =>
        store.selectReceiptRequests(G, { afterSeq, upToSeq, minTimeMs });
      expect(await found(0, 4)).toEqual([
        { seq: 1, messageKey: `${G}:1`, fromUserId: "bob" },
        { seq: 3, messageKey: `${G}:3`, fromUserId: "carol" },
        { seq: 4, messageKey: `${G}:4`, fromUserId: "bob" },
      ]);
      expect((await found(1, 3)).map((r) => r.seq)).toEqual([3]);
      expect((await found(0, 9, 1004)).map((r) => r.seq)).toEqual([4, 5]);
      const tombstone = record(4, { from: "bob", needReadReceipt: true }).message;
      tombstone.body = [];
      tombstone.recall = create(MessageRecallSchema, { recalledByUserId: "bob", recalledAtMs: 9n });
      expect(await store.recallMessage(tombstone)).toBe("recalled");
      expect((await found(0, 9)).map((r) => r.seq)).toEqual([1, 3, 5]);
    });

    it("deletes a group's messages and nothing else", async () => {
      await store.insertMessage(record(1, { dedupKey: "k" }));
      await store.insertMessage(record(1, { groupId: "other" }));
      await store.deleteGroupMessages(G);
      expect(
        await store.selectMessagesAfter(G, { afterSeq: 0, upToSeq: 0, minTimeMs: 0 }, 10),
      ).toEqual([]);
      expect(await store.selectMessageByDedupKey("k", 0)).toBeUndefined();
      // The id is free for a new group's seq 1.
      await store.insertMessage(record(1));
      expect(
        seqsOf(
          await store.selectMessagesAfter("other", { afterSeq: 0, upToSeq: 0, minTimeMs: 0 }, 10),
        ),
      ).toEqual([1]);
    });
  });
}
