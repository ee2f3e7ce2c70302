import { create } from "@bufbuild/protobuf";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type ConversationMessageStore,
  editKeyOf,
  recallKeyOf,
  SeqTakenError,
  type SequencedMessage,
  type StoredMessage,
} from "../../src/conversations/store.js";
import { MessageEditSchema, MessageRecallSchema } from "../../src/gen/im/v1/recall_pb.js";

/** How a kind's records are made for the shared cases. */
export interface ConversationFixture<M extends SequencedMessage, R extends StoredMessage<M>> {
  /** A conversation id of the kind (ids are opaque to the store: may hold spaces). */
  conversationId: string;
  otherConversationId: string;
  /** A text message "m<seq>" at seq in the conversation, key "<conversation>:<seq>". */
  record(
    conversationId: string,
    seq: number,
    over: { timeMs?: number; dedupKey?: string; unpublished?: boolean },
  ): R;
}

const seqsOf = (ms: { seq: bigint }[]) => ms.map((m) => Number(m.seq));

/**
 * What every conversation kind's message store must do (the port the pipeline
 * speaks, src/conversations/store.ts); the kinds' own suites cover the rest.
 */
export function describeConversationMessageStoreContract<
  M extends SequencedMessage,
  R extends StoredMessage<M>,
>(
  name: string,
  makeStore: () => Promise<ConversationMessageStore<M, R>>,
  fixture: ConversationFixture<M, R>,
): void {
  const C = fixture.conversationId;
  const record = (seq: number, over: Parameters<typeof fixture.record>[2] = {}) =>
    fixture.record(C, seq, over);
  /** The message at `seq` as a tombstone recalled at `atMs` (the kinds clear content themselves). */
  const tombstone = (
    seq: number,
    atMs: number,
    over: Parameters<typeof fixture.record>[2] = {},
  ) => {
    const m = record(seq, over).message;
    m.recall = create(MessageRecallSchema, {
      recalledByUserId: "admin",
      recalledAtMs: BigInt(atMs),
    });
    return m;
  };
  /** The message at `seq` as edit `version`, made at `atMs`. */
  const edited = (seq: number, version: number, atMs: number) => {
    const m = record(seq).message;
    m.edit = create(MessageEditSchema, {
      version,
      editedAtMs: BigInt(atMs),
      editedByUserId: "alice",
    });
    return m;
  };
  describe(`ConversationMessageStore (${name})`, () => {
    let store: ConversationMessageStore<M, R>;
    beforeEach(async () => {
      store = await makeStore();
    });
    const pendingSeqs = async (beforeMs: number) =>
      seqsOf((await store.selectUnpublished(beforeMs, 10)).map((r) => r.message));

    it("stores one message per (conversation, seq), in any order", async () => {
      // Out of order on purpose: concurrent sends insert in any order.
      for (const seq of [2, 1, 4, 3, 5]) await store.insertMessage(record(seq));
      await store.insertMessage(fixture.record(fixture.otherConversationId, 1, {}));
      await expect(store.insertMessage(record(3))).rejects.toBeInstanceOf(SeqTakenError);
      const all = await store.selectMessagesAfter(C, { afterSeq: 0, upToSeq: 0, minTimeMs: 0 }, 10);
      expect(seqsOf(all)).toEqual([1, 2, 3, 4, 5]);
      expect(all[0]?.messageKey).toBe(`${C}:1`);
      expect(all[0]).toEqual(record(1).message);
    });

    it("selects ascending after a seq and descending below one, honouring bounds and limits", async () => {
      for (let s = 1; s <= 6; s++) await store.insertMessage(record(s, { timeMs: s * 100 }));
      const ascending = (afterSeq: number, upToSeq: number, minTimeMs = 0, limit = 10) =>
        store.selectMessagesAfter(C, { afterSeq, upToSeq, minTimeMs }, limit);
      expect(seqsOf(await ascending(2, 5))).toEqual([3, 4, 5]);
      expect(seqsOf(await ascending(0, 0, 0, 2))).toEqual([1, 2]);
      expect(seqsOf(await ascending(0, 0, 350))).toEqual([4, 5, 6]);
      expect(seqsOf(await ascending(6, 0))).toEqual([]);

      const descending = (aboveSeq: number, beforeSeq: number, minTimeMs = 0, maxTimeMs = 1e12) =>
        store.selectMessagesBefore(C, { aboveSeq, beforeSeq, minTimeMs, maxTimeMs }, 10);
      expect(seqsOf(await descending(0, 0))).toEqual([6, 5, 4, 3, 2, 1]);
      expect(seqsOf(await descending(0, 5))).toEqual([4, 3, 2, 1]);
      expect(seqsOf(await descending(2, 5))).toEqual([4, 3]);
      expect(seqsOf(await descending(2, 0))).toEqual([6, 5, 4, 3]);
      expect(seqsOf(await descending(0, 0, 200, 400))).toEqual([4, 3, 2]);
      expect(
        seqsOf(
          await store.selectMessagesBefore(
            C,
            { aboveSeq: 0, beforeSeq: 0, minTimeMs: 0, maxTimeMs: 1e12 },
            2,
          ),
        ),
      ).toEqual([6, 5]);
      expect(
        await store.selectMessagesAfter(
          fixture.otherConversationId,
          { afterSeq: 0, upToSeq: 0, minTimeMs: 0 },
          10,
        ),
      ).toEqual([]);
    });

    it("finds the newest message of a dedup key at or after a time", async () => {
      await store.insertMessage(record(1, { dedupKey: "k", timeMs: 5000 }));
      expect((await store.selectMessageByDedupKey("k", 4000))?.message.seq).toBe(1n);
      expect((await store.selectMessageByDedupKey("k", 5000))?.message.seq).toBe(1n);
      expect(await store.selectMessageByDedupKey("k", 5001)).toBeUndefined();
      expect(await store.selectMessageByDedupKey("none", 0)).toBeUndefined();
      // A claim taken over past its window may store the key again, later.
      await store.insertMessage(record(2, { dedupKey: "k", timeMs: 9000 }));
      expect((await store.selectMessageByDedupKey("k", 0))?.message.seq).toBe(2n);
    });

    it("appends a batch item by item: a taken seq fails that item alone, nothing of it written", async () => {
      await store.insertMessage(record(2, { unpublished: true, timeMs: 20 }));
      const results = await store.appendMessages([
        record(1, { unpublished: true, timeMs: 10 }),
        record(2, { unpublished: true, timeMs: 30 }),
        record(3, { timeMs: 40 }),
        fixture.record(fixture.otherConversationId, 2, { unpublished: true }),
        record(3, { unpublished: true, timeMs: 50 }),
      ]);
      expect(results.map((r) => r.kind)).toEqual([
        "stored",
        "seq-taken",
        "stored",
        "stored",
        "seq-taken",
      ]);
      expect(await store.appendMessages([])).toEqual([]);
      const all = await store.selectMessagesAfter(C, { afterSeq: 0, upToSeq: 0, minTimeMs: 0 }, 10);
      expect(seqsOf(all)).toEqual([1, 2, 3]);
      // The first writer's message and mark stay; the duplicates left no mark.
      expect(all[1]?.timeMs).toBe(20n);
      const pending = (await store.selectUnpublished(1_000_000, 10)).map((r) => r.message);
      expect(pending.map((m) => m.messageKey).sort()).toEqual(
        [`${C}:1`, `${C}:2`, `${fixture.otherConversationId}:2`].sort(),
      );
      expect(pending.find((m) => m.messageKey === `${C}:2`)?.timeMs).toBe(20n);
    });

    it("keeps the outbox mark until published, oldest first", async () => {
      await store.insertMessage(record(2, { unpublished: true, timeMs: 200 }));
      await store.insertMessage(record(1, { unpublished: true, timeMs: 100 }));
      await store.insertMessage(record(3, { timeMs: 50 }));
      const unpublished = async (beforeMs: number, limit = 10) =>
        seqsOf((await store.selectUnpublished(beforeMs, limit)).map((r) => r.message));
      expect(await unpublished(1000)).toEqual([1, 2]);
      expect(await unpublished(1000, 1)).toEqual([1]);
      expect(await unpublished(150)).toEqual([1]);
      expect(await store.countUnpublished(1000)).toBe(2);
      expect(await store.countUnpublished(150)).toBe(1);
      const [pending] = await store.selectUnpublished(150, 10);
      expect(pending?.unpublished).toBe(true);
      expect(pending?.message).toEqual(record(1, { timeMs: 100 }).message);
      await store.markPublished([`${C}:1`, "unknown:1"]);
      expect(await unpublished(1000)).toEqual([2]);
      expect(await store.countUnpublished(1000)).toBe(1);
    });

    it("selects one message by (conversation, seq)", async () => {
      await store.insertMessage(record(1));
      await store.insertMessage(fixture.record(fixture.otherConversationId, 2, {}));
      expect((await store.selectMessage(C, 1))?.message).toEqual(record(1).message);
      expect(await store.selectMessage(C, 2)).toBeUndefined();
      expect(await store.selectMessage(fixture.otherConversationId, 1)).toBeUndefined();
    });

    it("recalls a message once: its tombstone replaces it for every read", async () => {
      await store.insertMessage(record(1));
      await store.insertMessage(record(2));
      expect(await store.recallMessage(tombstone(1, 5000))).toBe("recalled");
      // The first recall stands; a second (or a racing one) changes nothing.
      expect(await store.recallMessage(tombstone(1, 6000))).toBe("already-recalled");
      expect(await store.recallMessage(tombstone(9, 6000))).toBe("not-found");
      expect((await store.selectMessage(C, 1))?.message).toEqual(tombstone(1, 5000));
      const all = await store.selectMessagesAfter(C, { afterSeq: 0, upToSeq: 0, minTimeMs: 0 }, 10);
      expect(all.map((m) => m.recall?.recalledAtMs)).toEqual([5000n, undefined]);
      const newest = await store.selectMessagesBefore(
        C,
        { aboveSeq: 0, beforeSeq: 0, minTimeMs: 0, maxTimeMs: 1e12 },
        10,
      );
      expect(newest.map((m) => m.recall?.recalledAtMs)).toEqual([undefined, 5000n]);
      // Nothing was left pending by the refused recalls.
      expect(await pendingSeqs(1e12)).toEqual([1]);
    });

    it("stores edits version by version, each marked for the outbox; a recall wins over later edits", async () => {
      await store.insertMessage(record(1));
      expect(await store.editMessage(edited(1, 1, 500))).toBe("edited");
      // The same version again (a racing edit) or a skipped one: refused.
      expect(await store.editMessage(edited(1, 1, 510))).toBe("stale");
      expect(await store.editMessage(edited(1, 3, 510))).toBe("stale");
      expect(await store.editMessage(edited(9, 1, 510))).toBe("not-found");
      expect((await store.selectMessage(C, 1))?.message).toEqual(edited(1, 1, 500));
      const [after] = await store.selectMessagesAfter(
        C,
        { afterSeq: 0, upToSeq: 0, minTimeMs: 0 },
        1,
      );
      expect(after?.edit?.version).toBe(1);
      expect(await pendingSeqs(400)).toEqual([]);
      expect((await store.selectUnpublished(1000, 10)).map((r) => r.message.edit?.version)).toEqual(
        [1],
      );
      expect(await store.editMessage(edited(1, 2, 600))).toBe("edited");
      // Publishing version 1 (late) leaves version 2's mark; version 2's settles both.
      await store.markPublished([editKeyOf(`${C}:1`, 1)]);
      expect(await pendingSeqs(1000)).toEqual([1]);
      await store.markPublished([editKeyOf(`${C}:1`, 2)]);
      expect(await pendingSeqs(1e12)).toEqual([]);

      expect(await store.editMessage(edited(1, 3, 700))).toBe("edited");
      const t = tombstone(1, 800);
      t.edit = edited(1, 3, 700).edit;
      expect(await store.recallMessage(t)).toBe("recalled");
      // The recall supersedes the pending edit: only the tombstone goes out.
      const pending = await store.selectUnpublished(1e12, 10);
      expect(pending.map((r) => r.message.recall?.recalledAtMs)).toEqual([800n]);
      expect(await store.editMessage(edited(1, 4, 900))).toBe("recalled");
      await store.markPublished([recallKeyOf(`${C}:1`)]);
      expect(await pendingSeqs(1e12)).toEqual([]);
    });

    it("publishes a message edited while still in fan-out once, as its latest version", async () => {
      await store.insertMessage(record(1, { unpublished: true, timeMs: 100 }));
      await store.editMessage(edited(1, 1, 200));
      const pending = await store.selectUnpublished(1000, 10);
      expect(pending.map((r) => [Number(r.message.seq), r.message.edit?.version])).toEqual([
        [1, 1],
      ]);
      await store.markPublished([editKeyOf(`${C}:1`, 1)]);
      expect(await pendingSeqs(1e12)).toEqual([]);
    });

    it("marks a recall for the outbox by the recall's time; its key settles the message's own mark", async () => {
      // Seq 1 still in fan-out (marked); seq 2 published.
      await store.insertMessage(record(1, { unpublished: true, timeMs: 100 }));
      await store.insertMessage(record(2, { timeMs: 200 }));
      await store.recallMessage(tombstone(2, 1000, { timeMs: 200 }));
      expect(await pendingSeqs(900)).toEqual([1]);
      const pending = await store.selectUnpublished(2000, 10);
      expect(seqsOf(pending.map((r) => r.message))).toEqual([1, 2]);
      expect(pending[1]?.message.recall?.recalledAtMs).toBe(1000n);
      // Publishing seq 2's original (a late ack) leaves its recall pending.
      await store.markPublished([`${C}:2`]);
      expect(await pendingSeqs(2000)).toEqual([1, 2]);
      await store.markPublished([recallKeyOf(`${C}:2`)]);
      expect(await pendingSeqs(2000)).toEqual([1]);

      // Recalled while still in fan-out: pending once, as its tombstone; the
      // recall's publish settles both marks (the original need never go out).
      await store.recallMessage(tombstone(1, 1100, { timeMs: 100 }));
      const both = await store.selectUnpublished(2000, 10);
      expect(both.map((r) => r.message.recall?.recalledAtMs)).toEqual([1100n]);
      await store.markPublished([recallKeyOf(`${C}:1`)]);
      expect(await pendingSeqs(1e12)).toEqual([]);
    });
  });
}
