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
      const got = await Promise.all(Array.from({ length: 20 }, () => store.allocateSeq(CONV)));
      expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(await store.allocateSeq("c2c:x:y")).toBe(1);
      expect(await store.selectLastSeq(CONV)).toBe(20);
    });

    it("allocates seq ranges for many conversations at once, never overlapping", async () => {
      expect(await store.allocateSeq(CONV)).toBe(1);
      expect(
        await store.allocateSeqRanges([
          { conversationId: CONV, count: 3 },
          { conversationId: "c2c:x:y", count: 2 },
        ]),
      ).toEqual([2, 1]);
      // Concurrent batches and single allocations share one sequence.
      const got = await Promise.all([
        store.allocateSeqRanges([{ conversationId: CONV, count: 4 }]),
        store.allocateSeqRanges([{ conversationId: CONV, count: 2 }]),
        store.allocateSeq(CONV).then((s) => [s]),
      ]);
      const taken = [
        ...Array.from({ length: 4 }, (_, i) => (got[0][0] as number) + i),
        ...Array.from({ length: 2 }, (_, i) => (got[1][0] as number) + i),
        got[2][0] as number,
      ].sort((a, b) => a - b);
      expect(taken).toEqual([5, 6, 7, 8, 9, 10, 11]);
      expect(await store.selectLastSeq(CONV)).toBe(11);
      expect(await store.selectLastSeq("c2c:x:y")).toBe(2);
      expect(await store.allocateSeqRanges([])).toEqual([]);
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

    it("keeps both updates of one entry in one call: the newer seq and the older update's last message", async () => {
      const m = (seq: number) => record(seq).message;
      const owners = Array.from({ length: 20 }, (_, i) => `pair${i}`);
      // As the conversation-list writer merges them: a message, then a newer one without a last message.
      await store.upsertConversations(
        owners.flatMap((ownerUserId) => [
          {
            ownerUserId,
            conversationId: CONV,
            peerUserId: "x",
            seq: 2,
            lastMessage: m(2),
            timeMs: 200,
          },
          {
            ownerUserId,
            conversationId: CONV,
            peerUserId: "x",
            seq: 3,
            lastMessage: undefined,
            timeMs: 300,
          },
        ]),
      );
      for (const owner of owners) {
        const entry = await store.selectConversation(owner, CONV);
        expect([entry?.lastSeq, entry?.lastMessage?.seq]).toEqual([3, 2n]);
      }
    });

    it("upserts many conversation entries in one call, order-proof", async () => {
      const m = (seq: number) => record(seq).message;
      await store.upsertConversation({
        ownerUserId: "bob",
        conversationId: CONV,
        peerUserId: "alice",
        seq: 5,
        lastMessage: m(5),
        timeMs: 500,
      });
      await store.upsertConversations([
        // Stale for bob: changes nothing.
        {
          ownerUserId: "bob",
          conversationId: CONV,
          peerUserId: "alice",
          seq: 4,
          lastMessage: m(4),
          timeMs: 400,
        },
        {
          ownerUserId: "alice",
          conversationId: CONV,
          peerUserId: "bob",
          seq: 4,
          lastMessage: m(4),
          timeMs: 400,
        },
        {
          ownerUserId: "carol",
          conversationId: "c2c:carol:dave",
          peerUserId: "dave",
          seq: 1,
          lastMessage: undefined,
          timeMs: 100,
        },
      ]);
      await store.upsertConversations([]);
      const bob = await store.selectConversation("bob", CONV);
      expect([bob?.lastSeq, bob?.lastMessage?.seq, bob?.updatedAtMs]).toEqual([5, 5n, 500]);
      const alice = await store.selectConversation("alice", CONV);
      expect([alice?.lastSeq, alice?.lastMessage?.seq, alice?.peerUserId]).toEqual([4, 4n, "bob"]);
      const carol = await store.selectConversation("carol", "c2c:carol:dave");
      expect([carol?.lastSeq, carol?.lastMessage, carol?.readSeq]).toEqual([1, undefined, 0]);
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
      // A recalled message no longer counts.
      await store.recallMessage(recalled(record(1, { to: "bob" }).message));
      expect(await store.countUnread(CONV, "bob", 0, 0)).toBe(1);
    });

    it("keeps of one message the latest version as the last message: edits in order, the recall for good", async () => {
      const base = { ownerUserId: "bob", peerUserId: "alice", conversationId: CONV, timeMs: 200 };
      const v = (version: number) => {
        const m = record(2).message;
        m.edit = create(MessageEditSchema, { version, editedAtMs: BigInt(7000 + version) });
        return m;
      };
      const last = async () => (await store.selectConversation("bob", CONV))?.lastMessage;
      await store.upsertConversation({ ...base, seq: 2, lastMessage: record(2).message });
      await store.upsertConversation({ ...base, seq: 2, lastMessage: v(2) });
      // A late (redelivered) earlier version changes nothing.
      await store.upsertConversation({ ...base, seq: 2, lastMessage: v(1) });
      await store.upsertConversation({ ...base, seq: 2, lastMessage: record(2).message });
      expect((await last())?.edit?.version).toBe(2);
      const tombstone = recalled(v(2));
      await store.upsertConversation({ ...base, seq: 2, lastMessage: tombstone });
      await store.upsertConversation({ ...base, seq: 2, lastMessage: v(3) });
      expect(await last()).toEqual(tombstone);
      // A newer message still takes its place.
      await store.upsertConversation({
        ...base,
        seq: 3,
        lastMessage: record(3).message,
        timeMs: 300,
      });
      expect([(await last())?.seq, (await last())?.recall]).toEqual([3n, undefined]);
      const entry = await store.selectConversation("bob", CONV);
      expect([entry?.lastSeq, entry?.updatedAtMs]).toEqual([3, 300]);
    });

    it("upserts conversations idempotently and in seq order, listing by recency with a cursor", async () => {
      const m = (seq: number) => record(seq).message;
      const base = { ownerUserId: "bob", peerUserId: "alice" };
      await store.upsertConversation({
        ...base,
        conversationId: CONV,
        seq: 2,
        lastMessage: m(2),
        timeMs: 200,
      });
      // A stale (redelivered or out-of-order) update changes nothing.
      await store.upsertConversation({
        ...base,
        conversationId: CONV,
        seq: 1,
        lastMessage: m(1),
        timeMs: 100,
      });
      await store.upsertConversation({
        ...base,
        conversationId: CONV,
        seq: 2,
        lastMessage: m(2),
        timeMs: 200,
      });
      let c = await store.selectConversation("bob", CONV);
      expect([c?.lastSeq, c?.lastMessage?.seq, c?.updatedAtMs, c?.readSeq]).toEqual([
        2,
        2n,
        200,
        0,
      ]);
      // No last message: seq and time move, the last message stays.
      await store.upsertConversation({
        ...base,
        conversationId: CONV,
        seq: 3,
        lastMessage: undefined,
        timeMs: 300,
      });
      c = await store.selectConversation("bob", CONV);
      expect([c?.lastSeq, c?.lastMessage?.seq]).toEqual([3, 2n]);

      await store.upsertConversation({
        ...base,
        conversationId: "c2c:bob:carol",
        peerUserId: "carol",
        seq: 1,
        lastMessage: undefined,
        timeMs: 300,
      });
      await store.upsertConversation({
        ...base,
        conversationId: "c2c:bob:dave",
        peerUserId: "dave",
        seq: 1,
        lastMessage: undefined,
        timeMs: 50,
      });
      const all = await store.selectConversations("bob", undefined, 10);
      expect(all.map((x) => x.conversationId)).toEqual([CONV, "c2c:bob:carol", "c2c:bob:dave"]);
      const page1 = await store.selectConversations("bob", undefined, 2);
      const last = page1[1]!;
      const page2 = await store.selectConversations(
        "bob",
        { updatedAtMs: last.updatedAtMs, conversationId: last.conversationId },
        2,
      );
      expect(page2.map((x) => x.conversationId)).toEqual(["c2c:bob:dave"]);
      expect(await store.selectConversations("alice", undefined, 10)).toEqual([]);
      expect(await store.selectConversation("alice", CONV)).toBeUndefined();
    });

    it("raises the read seq and never lowers it", async () => {
      expect(await store.updateReadSeq("bob", CONV, "alice", 5)).toBe(5);
      expect(await store.updateReadSeq("bob", CONV, "alice", 3)).toBe(5);
      await store.upsertConversation({
        ownerUserId: "bob",
        conversationId: CONV,
        peerUserId: "alice",
        seq: 9,
        lastMessage: undefined,
        timeMs: 1,
      });
      expect(await store.updateReadSeq("bob", CONV, "alice", 8)).toBe(8);
      expect((await store.selectConversation("bob", CONV))?.lastSeq).toBe(9);
    });
  });
}
