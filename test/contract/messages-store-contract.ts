import { clone, create } from "@bufbuild/protobuf";
import { beforeEach, describe, expect, it } from "vitest";
import type { MessageRecord, MessageStore } from "../../src/conversations/c2c/store.js";
import { type Message, MessageSchema } from "../../src/gen/im/v1/message_pb.js";
import { MessageEditSchema, MessageRecallSchema } from "../../src/gen/im/v1/recall_pb.js";

const CONV = "c2c:alice:bob";

export function c2cRecord(
  conversationId: string,
  seq: number,
  over: { timeMs?: number; dedupKey?: string; unpublished?: boolean },
): MessageRecord {
  const r = record(seq, over);
  r.message.conversationId = conversationId;
  r.message.messageKey = `${conversationId}:${seq}`;
  return r;
}

/** `m` recalled by an admin at 5000, content removed. */
function recalled(m: Message): Message {
  const t = clone(MessageSchema, m);
  t.body = [];
  t.recall = create(MessageRecallSchema, { recalledByUserId: "admin", recalledAtMs: 5000n });
  return t;
}

function record(
  seq: number,
  over: Partial<{
    timeMs: number;
    to: string;
    noUnread: boolean;
    dedupKey: string;
    unpublished: boolean;
  }> = {},
): MessageRecord {
  return {
    message: create(MessageSchema, {
      conversationId: CONV,
      seq: BigInt(seq),
      messageKey: `${CONV}:${seq}`,
      fromUserId: over.to === "alice" ? "bob" : "alice",
      toUserId: over.to ?? "bob",
      timeMs: BigInt(over.timeMs ?? 1000 + seq),
      body: [{ element: { case: "text", value: { text: `m${seq}` } } }],
      noUnread: over.noUnread ?? false,
    }),
    dedupKey: over.dedupKey,
    unpublished: over.unpublished ?? false,
    skipAfterSendWebhook: false,
    skipSyncToSender: false,
    noLastMessage: false,
  };
}

/**
 * What every MessageStore backend must do beyond the shared conversation
 * message port (conversation-messages-contract.ts). `makeStore` returns an empty store.
 */
export function describeMessageStoreContract(makeStore: () => Promise<MessageStore>): void {
  describe("MessageStore", () => {
    let store: MessageStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    it("allocates strictly increasing seqs per conversation, also concurrently", async () => {
      expect(await store.selectLastSeq(CONV)).toBe(0);
      const got = await Promise.all(Array.from({ length: 20 }, () => store.allocateSeq(CONV, 1)));
      expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(await store.allocateSeq("c2c:x:y", 1)).toBe(1);
      expect(await store.selectLastSeq(CONV)).toBe(20);
    });

    it("allocates seq ranges for many conversations at once, never overlapping", async () => {
      expect(await store.allocateSeq(CONV, 1)).toBe(1);
      expect(
        await store.allocateSeqRanges(
          [
            { conversationId: CONV, count: 3 },
            { conversationId: "c2c:x:y", count: 2 },
          ],
          1,
        ),
      ).toEqual([2, 1]);
      // Concurrent batches and single allocations share one sequence.
      const got = await Promise.all([
        store.allocateSeqRanges([{ conversationId: CONV, count: 4 }], 1),
        store.allocateSeqRanges([{ conversationId: CONV, count: 2 }], 1),
        store.allocateSeq(CONV, 1).then((s) => [s]),
      ]);
      const taken = [
        ...Array.from({ length: 4 }, (_, i) => (got[0][0] as number) + i),
        ...Array.from({ length: 2 }, (_, i) => (got[1][0] as number) + i),
        got[2][0] as number,
      ].sort((a, b) => a - b);
      expect(taken).toEqual([5, 6, 7, 8, 9, 10, 11]);
      expect(await store.selectLastSeq(CONV)).toBe(11);
      expect(await store.selectLastSeq("c2c:x:y")).toBe(2);
      expect(await store.allocateSeqRanges([], 1)).toEqual([]);
    });

    it("claims a dedup key once per window, atomically, and releases it", async () => {
      const claims = await Promise.all(
        Array.from({ length: 5 }, () => store.claimDedupKey("k", 1000, 120_000)),
      );
      expect(claims.filter((c) => c.kind === "claimed")).toHaveLength(1);
      expect(await store.claimDedupKey("k", 2000, 120_000)).toEqual({
        kind: "taken",
        claimedAtMs: 1000,
      });
      // After the window the stale claim is taken over.
      expect(await store.claimDedupKey("k", 1000 + 120_000, 120_000)).toEqual({ kind: "claimed" });
      await store.releaseDedupKey("k");
      expect(await store.claimDedupKey("k", 500_000, 120_000)).toEqual({ kind: "claimed" });
      expect(await store.deleteDedupKeysBefore(500_001)).toBe(1);
      expect(await store.claimDedupKey("k", 500_002, 120_000)).toEqual({ kind: "claimed" });
    });

    it("claims many keys in one call, each as claimDedupKey would", async () => {
      expect(await store.claimDedupKey("taken", 1000, 120_000)).toEqual({ kind: "claimed" });
      expect(await store.claimDedupKey("stale", 1000, 10)).toEqual({ kind: "claimed" });
      const got = await store.claimDedupKeys([
        { key: "a", nowMs: 2000, windowMs: 120_000 },
        { key: "taken", nowMs: 2000, windowMs: 120_000 },
        { key: "stale", nowMs: 2000, windowMs: 10 },
        { key: "b", nowMs: 2000, windowMs: 120_000 },
      ]);
      expect(got).toEqual([
        { kind: "claimed" },
        { kind: "taken", claimedAtMs: 1000 },
        { kind: "claimed" },
        { kind: "claimed" },
      ]);
      expect(await store.claimDedupKey("a", 3000, 120_000)).toEqual({
        kind: "taken",
        claimedAtMs: 2000,
      });
      expect(await store.claimDedupKeys([])).toEqual([]);
    });

    it("round-trips the message", async () => {
      const r = record(3);
      r.message.cloudCustomData = "ccd";
      r.message.body.push({
        $typeName: "im.v1.MessageElement",
        element: { case: "face", value: { $typeName: "im.v1.FaceElement", index: 7, data: "x" } },
      });
      await store.insertMessage(r);
      const [back] = await store.selectMessagesAfter(
        CONV,
        { afterSeq: 0, upToSeq: 0, minTimeMs: 0 },
        10,
      );
      expect(back).toEqual(r.message);
    });

    it("counts unread messages to the owner after a seq", async () => {
      await store.insertMessage(record(1, { to: "bob" }));
      await store.insertMessage(record(2, { to: "alice" }));
      await store.insertMessage(record(3, { to: "bob", noUnread: true }));
      await store.insertMessage(record(4, { to: "bob", timeMs: 9000 }));
      expect(await store.countUnread(CONV, "bob", 0, 0)).toBe(2);
      expect(await store.countUnread(CONV, "bob", 1, 0)).toBe(1);
      expect(await store.countUnread(CONV, "bob", 0, 5000)).toBe(1);
      expect(await store.countUnread(CONV, "alice", 0, 0)).toBe(1);
      // Seqs the owner deleted for themselves do not count.
      expect(await store.countUnread(CONV, "bob", 0, 0, [4, 7])).toBe(1);
      expect(await store.countUnread(CONV, "bob", 0, 0, [1, 4])).toBe(0);
      expect(await store.countUnread(CONV, "bob", 0, 0, [])).toBe(2);
      // A recalled message no longer counts.
      await store.recallMessage(recalled(record(1, { to: "bob" }).message));
      expect(await store.countUnread(CONV, "bob", 0, 0)).toBe(1);
    });

    it("lists a conversation to both users from its first seq, by the time of its latest allocation, with a cursor", async () => {
      expect(await store.allocateSeq(CONV, 200)).toBe(1);
      const [alice] = await store.selectConversations("alice", undefined, 10);
      expect(alice).toEqual({
        ownerUserId: "alice",
        conversationId: CONV,
        peerUserId: "bob",
        lastSeq: 1,
        lastMessage: undefined,
        readSeq: 0,
        updatedAtMs: 200,
      });
      await store.allocateSeqRanges(
        [
          { conversationId: "c2c:bob:carol", count: 2 },
          { conversationId: "c2c:bob:dave", count: 1 },
        ],
        50,
      );
      await store.allocateSeqRanges([{ conversationId: "c2c:bob:carol", count: 1 }], 300);
      // An allocation stamped earlier (another node's clock) does not move it back.
      await store.allocateSeq(CONV, 100);
      const all = await store.selectConversations("bob", undefined, 10);
      expect(all.map((c) => [c.conversationId, c.peerUserId, c.lastSeq, c.updatedAtMs])).toEqual([
        ["c2c:bob:carol", "carol", 3, 300],
        [CONV, "alice", 2, 200],
        ["c2c:bob:dave", "dave", 1, 50],
      ]);
      const page1 = await store.selectConversations("bob", undefined, 2);
      const last = page1[1]!;
      const page2 = await store.selectConversations(
        "bob",
        { updatedAtMs: last.updatedAtMs, conversationId: last.conversationId },
        2,
      );
      expect(page2.map((x) => x.conversationId)).toEqual(["c2c:bob:dave"]);
      expect((await store.selectConversations("carol", undefined, 10)).length).toBe(1);
      expect(await store.selectConversations("erin", undefined, 10)).toEqual([]);
    });

    it("shows as last message the newest stored one not sent with no_last_message, in its latest version", async () => {
      const last = async () => (await store.selectConversations("bob", undefined, 1))[0];
      await store.allocateSeqRanges([{ conversationId: CONV, count: 3 }], 100);
      await store.insertMessage(record(1));
      await store.insertMessage(record(2));
      // Seq 3 taken, its message not stored (yet, or ever): the newest stored one shows.
      expect([(await last())?.lastSeq, (await last())?.lastMessage]).toEqual([
        3,
        record(2).message,
      ]);
      await store.insertMessage({ ...record(3), noLastMessage: true });
      expect((await last())?.lastMessage?.seq).toBe(2n);
      const edited = record(2).message;
      edited.edit = create(MessageEditSchema, { version: 1, editedAtMs: 7001n });
      edited.body = [
        {
          $typeName: "im.v1.MessageElement",
          element: { case: "text", value: { $typeName: "im.v1.TextElement", text: "m2 v1" } },
        },
      ];
      expect(await store.editMessage(edited)).toBe("edited");
      expect((await last())?.lastMessage).toEqual(edited);
      const tombstone = recalled(edited);
      expect(await store.recallMessage(tombstone)).toBe("recalled");
      expect((await last())?.lastMessage).toEqual(tombstone);
      await store.allocateSeq(CONV, 200);
      await store.insertMessage(record(4));
      expect([(await last())?.lastSeq, (await last())?.lastMessage]).toEqual([
        4,
        record(4).message,
      ]);
    });

    it("gives a reader who hides seqs the newest listed message they do not hide", async () => {
      const listed = (aboveSeq: number, exceptSeqs: number[]) =>
        store.selectLastListed(CONV, { aboveSeq, exceptSeqs });
      await store.allocateSeqRanges([{ conversationId: CONV, count: 5 }], 100);
      for (const seq of [1, 2, 4, 5]) await store.insertMessage(record(seq));
      await store.insertMessage({ ...record(3), noLastMessage: true });
      expect(await listed(0, [])).toEqual(record(5).message);
      // Below the hidden 4 and 5, seq 3 was sent with no_last_message: 2 shows.
      expect(await listed(0, [4, 5])).toEqual(record(2).message);
      expect(await listed(2, [4, 5])).toBeUndefined();
      expect(await store.selectLastListed("c2c:x:y", { aboveSeq: 0, exceptSeqs: [] })).toBe(
        undefined,
      );
    });

    it("raises the read seq and never lowers it; the list carries it", async () => {
      expect(await store.selectReadSeq("bob", CONV)).toBe(0);
      expect(await store.updateReadSeq("bob", CONV, 5)).toEqual({ before: 0, after: 5 });
      expect(await store.updateReadSeq("bob", CONV, 3)).toEqual({ before: 5, after: 5 });
      expect(await store.updateReadSeq("bob", CONV, 5)).toEqual({ before: 5, after: 5 });
      await store.allocateSeqRanges([{ conversationId: CONV, count: 9 }], 100);
      expect(await store.updateReadSeq("bob", CONV, 8)).toEqual({ before: 5, after: 8 });
      expect(await store.selectReadSeq("bob", CONV)).toBe(8);
      expect(await store.selectReadSeq("alice", CONV)).toBe(0);
      const [bob] = await store.selectConversations("bob", undefined, 10);
      expect([bob?.lastSeq, bob?.readSeq]).toEqual([9, 8]);
      const [alice] = await store.selectConversations("alice", undefined, 10);
      expect(alice?.readSeq).toBe(0);
    });

    it("gives the seqs of the most recent conversations as the list has them, without last messages", async () => {
      await store.allocateSeqRanges([{ conversationId: CONV, count: 4 }], 100);
      await store.allocateSeqRanges([{ conversationId: "c2c:bob:carol", count: 2 }], 300);
      await store.allocateSeqRanges([{ conversationId: "c2c:bob:dave", count: 1 }], 200);
      await store.updateReadSeq("bob", CONV, 3);
      await store.updateReadSeq("bob", "c2c:bob:carol", 2);
      expect(await store.selectConversationSeqs("bob", 10)).toEqual([
        { conversationId: "c2c:bob:carol", lastSeq: 2, readSeq: 2 },
        { conversationId: "c2c:bob:dave", lastSeq: 1, readSeq: 0 },
        { conversationId: CONV, lastSeq: 4, readSeq: 3 },
      ]);
      expect((await store.selectConversationSeqs("bob", 2)).map((c) => c.conversationId)).toEqual(
        (await store.selectConversations("bob", undefined, 2)).map((c) => c.conversationId),
      );
      expect(await store.selectConversationSeqs("erin", 10)).toEqual([]);
    });
  });
}
