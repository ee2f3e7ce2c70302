import { create } from "@bufbuild/protobuf";
import { beforeEach, describe, expect, it } from "vitest";
import type { GroupMessageRecord, GroupMessageStore } from "../../src/conversations/group/store.js";
import { SeqTakenError } from "../../src/conversations/store.js";
import { GroupMessageKind, GroupMessageSchema } from "../../src/gen/im/v1/group_pb.js";

const G = "g:1 with spaces";

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
    }),
    dedupKey: over.dedupKey,
    unpublished: over.unpublished ?? false,
    skipAfterSendWebhook: false,
    skipSyncToSender: false,
  };
}
const seqsOf = (ms: { seq: bigint }[]) => ms.map((m) => Number(m.seq));

/** What every GroupMessageStore backend must do. `makeStore` returns an empty store. */
export function describeGroupMessageStoreContract(
  makeStore: () => Promise<GroupMessageStore>,
): void {
  describe("GroupMessageStore", () => {
    let store: GroupMessageStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    it("stores one message per (group, seq) and reads ranges both ways", async () => {
      // Out of order on purpose: concurrent sends insert in any order.
      for (const seq of [2, 1, 4, 3, 5]) await store.insertMessage(record(seq));
      await store.insertMessage(record(1, { groupId: "other" }));
      await expect(store.insertMessage(record(3))).rejects.toBeInstanceOf(SeqTakenError);

      const above = (afterSeq: number, upToSeq: number, minTimeMs = 0, limit = 10) =>
        store.selectMessagesAfter(G, { afterSeq, upToSeq, minTimeMs }, limit);
      expect(seqsOf(await above(0, 0))).toEqual([1, 2, 3, 4, 5]);
      expect(seqsOf(await above(1, 3))).toEqual([2, 3]);
      expect(seqsOf(await above(0, 0, 1003, 2))).toEqual([3, 4]);

      const below = (aboveSeq: number, beforeSeq: number, minTimeMs = 0, maxTimeMs = 9999) =>
        store.selectMessagesBefore(G, { aboveSeq, beforeSeq, minTimeMs, maxTimeMs }, 10);
      expect(seqsOf(await below(0, 0))).toEqual([5, 4, 3, 2, 1]);
      expect(seqsOf(await below(2, 5))).toEqual([4, 3]);
      expect(seqsOf(await below(0, 0, 1002, 1004))).toEqual([4, 3, 2]);
      const [m] = await above(0, 1);
      expect(m?.body[0]?.element).toEqual({
        case: "text",
        value: expect.objectContaining({ text: "m1" }),
      });
      expect(m?.messageKey).toBe(`${G}:1`);
    });

    it("finds a message by dedup key within a time bound", async () => {
      await store.insertMessage(record(1, { dedupKey: "k", timeMs: 5000 }));
      expect((await store.selectMessageByDedupKey("k", 4000))?.message.seq).toBe(1n);
      expect(await store.selectMessageByDedupKey("k", 6000)).toBeUndefined();
      expect(await store.selectMessageByDedupKey("none", 0)).toBeUndefined();
    });

    it("keeps the outbox mark until cleared", async () => {
      await store.insertMessage(record(1, { unpublished: true, timeMs: 100 }));
      await store.insertMessage(record(2, { unpublished: true, timeMs: 200 }));
      await store.insertMessage(record(3, { timeMs: 50 }));
      const unpublished = async (before: number) =>
        seqsOf((await store.selectUnpublished(before, 10)).map((r) => r.message));
      expect(await unpublished(1000)).toEqual([1, 2]);
      expect(await unpublished(150)).toEqual([1]);
      await store.markPublished([`${G}:1`, "unknown:1"]);
      expect(await unpublished(1000)).toEqual([2]);
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
