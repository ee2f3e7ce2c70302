import type { Db } from "mongodb";
import type { ReceiptStore } from "../../receipts/store.js";
import type { MongoCapabilities } from "./capabilities.js";
import { bulkWriteErrorsOf, guard, isDuplicateWriteError } from "./guard.js";
import { createKeyedMutex } from "./keyed-mutex.js";
import { createShardKeyFilter } from "./shard-keys.js";

interface DeliveredDoc {
  /** "<owner>|<conversation id>" (user ids hold no "|"). */
  _id: string;
  seq: number;
}

interface GroupReadDoc {
  /** "<message key>|<user id>": one read per member and message, by the unique _id. */
  _id: string;
  groupId: string;
  messageKey: string;
  userId: string;
  timeMs: number;
  /** For a TTL index on real MongoDB (the message's retention). */
  expireAt: Date;
}

export async function createMongoReceiptStore(
  db: Db,
  capabilities: Pick<MongoCapabilities, "atomicUpdates" | "indexedIdWithFields">,
): Promise<ReceiptStore> {
  const delivered = db.collection<DeliveredDoc>("c2c_delivered");
  const reads = db.collection<GroupReadDoc>("group_reads");
  // Counts and pages of one message's readers; on FerretDB (no secondary
  // index use) these queries scan, which only receipt queries and one count per
  // message per event window pay, never a member's MarkGroupRead.
  await reads.createIndex({ messageKey: 1, userId: 1 });
  await reads.createIndex({ expireAt: 1 }, { expireAfterSeconds: 0 }).catch(() => {});
  // FerretDB applies $max as read-then-write: serialise per watermark in-process.
  const exclusive = createKeyedMutex(capabilities);
  const byKey = createShardKeyFilter(capabilities);
  const deliveredId = (owner: string, conversationId: string) => `${owner}|${conversationId}`;

  return {
    raiseDeliveredSeq: (owner, conversationId, seq) =>
      guard(() =>
        exclusive(deliveredId(owner, conversationId), async () => {
          const before = await delivered.findOneAndUpdate(
            { _id: deliveredId(owner, conversationId) },
            { $max: { seq } },
            { upsert: true, returnDocument: "before" },
          );
          const was = before?.seq ?? 0;
          return { before: was, after: Math.max(was, seq) };
        }),
      ),
    selectDeliveredSeq: (owner, conversationId) =>
      guard(async () => {
        const doc = await delivered.findOne({ _id: deliveredId(owner, conversationId) });
        return doc?.seq ?? 0;
      }),
    insertGroupReads: (batch) =>
      guard(async () => {
        if (batch.length === 0) return 0;
        const docs = batch.map(
          (r): GroupReadDoc => ({
            _id: `${r.messageKey}|${r.userId}`,
            groupId: r.groupId,
            messageKey: r.messageKey,
            userId: r.userId,
            timeMs: r.timeMs,
            expireAt: new Date(r.expireAtMs),
          }),
        );
        try {
          await reads.insertMany(docs, { ordered: false });
          return docs.length;
        } catch (err) {
          // A read already recorded hits the unique _id: that one is not new.
          const failed = bulkWriteErrorsOf(err);
          const other = failed.find((e) => !isDuplicateWriteError(e));
          if (other !== undefined) throw err;
          return docs.length - failed.length;
        }
      }),
    countGroupReads: (messageKey) => guard(() => reads.countDocuments({ messageKey })),
    selectGroupReaders: (messageKey, afterUserId, limit) =>
      guard(async () =>
        (
          await reads
            .find({ messageKey, userId: { $gt: afterUserId } }, { projection: { userId: 1 } })
            .sort({ userId: 1 })
            .limit(limit)
            .toArray()
        ).map((d) => d.userId),
      ),
    selectGroupReadersAmong: (messageKey, userIds) =>
      guard(async () => {
        if (userIds.length === 0) return new Set<string>();
        const docs = await reads
          .find(
            byKey<GroupReadDoc>({ $in: userIds.map((u) => `${messageKey}|${u}`) }, { messageKey }),
            { projection: { userId: 1 } },
          )
          .toArray();
        return new Set(docs.map((d) => d.userId));
      }),
    deleteGroupReads: (groupId) =>
      guard(async () => {
        // The group's keys are one _id range (on MongoDB an index scan, not a collection
        // scan); groupId drops another group's whose id extends this one with ":".
        await reads.deleteMany({ _id: { $gt: `${groupId}:`, $lt: `${groupId};` }, groupId });
      }),
  };
}
