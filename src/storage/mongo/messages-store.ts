import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { Db } from "mongodb";
import {
  type ConversationRecord,
  type ConversationUpdate,
  lastMessageRank,
  type MessageRecord,
  type MessageStore,
} from "../../conversations/c2c/store.js";
import { type DedupClaim, messageKeyOf, SeqTakenError } from "../../conversations/store.js";
import { type Message, MessageSchema } from "../../gen/im/v1/message_pb.js";
import type { MongoCapabilities } from "./capabilities.js";
import { bulkWriteErrorsOf, guard, isDuplicateKey, isDuplicateWriteError } from "./guard.js";
import { createKeyedMutex } from "./keyed-mutex.js";
import { appendResultOf, createOutboxCollection, insertEach } from "./outbox-collection.js";

interface DedupDoc {
  _id: string;
  claimedAtMs: number;
}
interface SeqDoc {
  _id: string;
  seq: number;
}
interface MessageDoc {
  _id: string;
  conversationId: string;
  seq: number;
  timeMs: number;
  toUserId: string;
  noUnread: boolean;
  dedupKey: string | null;
  skipAfterSendWebhook: boolean;
  skipSyncToSender: boolean;
  noLastMessage: boolean;
  /** Set once recalled (`message` is then the tombstone); absent before. */
  recalled?: boolean;
  /** The latest edit's version (`message` is that version); absent before the first edit. */
  editVersion?: number;
  /** The message in proto JSON, so it reads naturally in the database. */
  message: JsonValue;
  /** For a TTL index on real MongoDB; reads enforce retention regardless. */
  expireAt: Date;
}
interface ConversationDoc {
  _id: string;
  ownerUserId: string;
  conversationId: string;
  peerUserId: string;
  lastSeq: number;
  /**
   * seq, then rank (`lastMessageRank`): `$max` compares documents field by
   * field, so the newest seq wins, and of one message its latest version.
   */
  last?: { seq: number; rank?: number; message: JsonValue };
  readSeq: number;
  updatedAtMs: number;
}

const decode = (json: JsonValue): Message =>
  fromJson(MessageSchema, json, { ignoreUnknownFields: true });

export interface MongoMessageStoreOptions {
  /** How long MongoDB may keep a message (TTL index where supported). */
  retentionMs: number;
}

export async function createMongoMessageStore(
  db: Db,
  options: MongoMessageStoreOptions,
  capabilities: MongoCapabilities,
): Promise<MessageStore> {
  // Shard keys (docs/deployment.md, Shard keys): dedup claims, seqs and the outbox
  // {_id: "hashed"}; messages {conversationId: 1, seq: 1}; conversation lists
  // {ownerUserId: 1, conversationId: 1}.
  const dedup = db.collection<DedupDoc>("message_dedup");
  const seqs = db.collection<SeqDoc>("conversation_seqs");
  const messages = db.collection<MessageDoc>("messages");
  const conversations = db.collection<ConversationDoc>("conversations");
  const exclusive = createKeyedMutex(capabilities);
  const outbox = await createOutboxCollection(db, "message_outbox", messages, exclusive);
  await Promise.all([
    messages.createIndex({ conversationId: 1, seq: 1 }, { unique: true }),
    messages.createIndex({ dedupKey: 1, timeMs: 1 }),
    conversations.createIndex({ ownerUserId: 1, updatedAtMs: -1, conversationId: 1 }),
    dedup.createIndex({ claimedAtMs: 1 }),
  ]);
  // TTL indexes are an extra on servers that support them (FerretDB v1 does not
  // expire documents); retention is always enforced on reads.
  await messages.createIndex({ expireAt: 1 }, { expireAfterSeconds: 0 }).catch(() => {});

  const toDoc = (r: MessageRecord): MessageDoc => ({
    _id: r.message.messageKey,
    conversationId: r.message.conversationId,
    seq: Number(r.message.seq),
    timeMs: Number(r.message.timeMs),
    toUserId: r.message.toUserId,
    noUnread: r.message.noUnread,
    dedupKey: r.dedupKey ?? null,
    skipAfterSendWebhook: r.skipAfterSendWebhook,
    skipSyncToSender: r.skipSyncToSender,
    noLastMessage: r.noLastMessage,
    message: toJson(MessageSchema, r.message),
    expireAt: new Date(Number(r.message.timeMs) + options.retentionMs),
  });
  const toRecord = (d: MessageDoc, unpublished: boolean): MessageRecord => ({
    message: decode(d.message),
    dedupKey: d.dedupKey ?? undefined,
    unpublished,
    skipAfterSendWebhook: d.skipAfterSendWebhook,
    skipSyncToSender: d.skipSyncToSender,
    noLastMessage: d.noLastMessage,
  });
  const toConversation = (d: ConversationDoc): ConversationRecord => ({
    ownerUserId: d.ownerUserId,
    conversationId: d.conversationId,
    peerUserId: d.peerUserId,
    lastSeq: d.lastSeq,
    lastMessage: d.last === undefined ? undefined : decode(d.last.message),
    readSeq: d.readSeq,
    updatedAtMs: d.updatedAtMs,
  });
  const convId = (owner: string, conversationId: string) => `${owner}|${conversationId}`;
  /** `$inc` upsert of a conversation's counter, returning it after (run under its lock). */
  const incrementCounter = async (conversationId: string, by: number): Promise<SeqDoc> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const doc = await seqs.findOneAndUpdate(
          { _id: conversationId },
          { $inc: { seq: by } },
          { upsert: true, returnDocument: "after" },
        );
        if (doc === null) throw new Error(`seq allocation returned nothing for ${conversationId}`);
        return doc;
      } catch (err) {
        // Two first allocations raced to insert the counter; the loser retries
        // and increments the winner's document.
        if (!isDuplicateKey(err) || attempt >= 3) throw err;
      }
    }
  };
  const claimOne = async (key: string, nowMs: number, windowMs: number): Promise<DedupClaim> => {
    for (;;) {
      try {
        await dedup.insertOne({ _id: key, claimedAtMs: nowMs });
        return { kind: "claimed" };
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      const takenOver = await dedup.findOneAndUpdate(
        { _id: key, claimedAtMs: { $lte: nowMs - windowMs } },
        { $set: { claimedAtMs: nowMs } },
      );
      if (takenOver !== null) return { kind: "claimed" };
      const current = await dedup.findOne({ _id: key });
      // Released between our insert and read: try again.
      if (current !== null) return { kind: "taken", claimedAtMs: current.claimedAtMs };
    }
  };
  /** Holds the keys' locks in sorted order (no deadlock between two batches). */
  const exclusiveAll = <T>(keys: readonly string[], work: () => Promise<T>): Promise<T> => {
    const [first, ...rest] = keys;
    return first === undefined ? work() : exclusive(first, () => exclusiveAll(rest, work));
  };
  // $max makes each update order-proof and idempotent in one atomic _id-only
  // write: a stale or repeated seq changes nothing.
  const entryUpdate = (u: ConversationUpdate, jsonOf: (m: Message) => JsonValue) => ({
    filter: { _id: convId(u.ownerUserId, u.conversationId) },
    update: {
      $max: {
        lastSeq: u.seq,
        updatedAtMs: u.timeMs,
        ...(u.lastMessage
          ? {
              last: {
                seq: u.seq,
                rank: lastMessageRank(u.lastMessage),
                message: jsonOf(u.lastMessage),
              },
            }
          : {}),
      },
      $setOnInsert: {
        ownerUserId: u.ownerUserId,
        conversationId: u.conversationId,
        peerUserId: u.peerUserId,
        readSeq: 0,
      },
    },
  });
  const upsertEntry = async (o: ReturnType<typeof entryUpdate>): Promise<void> => {
    try {
      await conversations.updateOne(o.filter, o.update, { upsert: true });
    } catch (err) {
      // Two first updates raced to insert; the loser updates the winner's entry.
      if (!isDuplicateKey(err)) throw err;
      await conversations.updateOne(o.filter, o.update);
    }
  };
  /** One unordered bulkWrite; entries that lost an insert race are updated again, one by one. */
  const upsertEntries = async (updates: readonly ConversationUpdate[]): Promise<void> => {
    if (updates.length === 0) return;
    // A message is the last one of its sender's entry and its recipient's: encoded once.
    const json = new Map<Message, JsonValue>();
    const jsonOf = (m: Message) => {
      let j = json.get(m);
      if (j === undefined) {
        j = toJson(MessageSchema, m);
        json.set(m, j);
      }
      return j;
    };
    const ops = updates.map((u) => entryUpdate(u, jsonOf));
    const keys = [...new Set(ops.map((o) => o.filter._id))].sort();
    await exclusiveAll(keys, async () => {
      if (!capabilities.bulkUpdates) {
        // FerretDB's update is read-modify-write: two updates of one entry at
        // once lose one (an older update's last message over a newer seq), so
        // one entry's updates go one after the other.
        const byEntry = new Map<string, (typeof ops)[number][]>();
        for (const o of ops) {
          const entryOps = byEntry.get(o.filter._id);
          if (entryOps === undefined) byEntry.set(o.filter._id, [o]);
          else entryOps.push(o);
        }
        await Promise.all(
          [...byEntry.values()].map(async (entryOps) => {
            for (const o of entryOps) await upsertEntry(o);
          }),
        );
        return;
      }
      try {
        await conversations.bulkWrite(
          ops.map((o) => ({ updateOne: { ...o, upsert: true } })),
          { ordered: false },
        );
      } catch (err) {
        const failed = bulkWriteErrorsOf(err);
        // Two first updates raced to insert; the loser updates the winner's entry.
        if (!failed.every(isDuplicateWriteError)) throw err;
        for (const e of failed) {
          const o = ops[e.index];
          if (o !== undefined) await conversations.updateOne(o.filter, o.update);
        }
      }
    });
  };

  return {
    claimDedupKey: (key, nowMs, windowMs) => guard(() => claimOne(key, nowMs, windowMs)),
    claimDedupKeys: (requests) =>
      guard(async () => {
        // One unordered insertMany; only keys already claimed take the slow path.
        const outcomes = await insertEach(
          dedup,
          requests.map((r) => ({ _id: r.key, claimedAtMs: r.nowMs })),
        );
        return Promise.all(
          requests.map((r, i): Promise<DedupClaim> | DedupClaim => {
            const o = outcomes[i];
            if (o === "inserted") return { kind: "claimed" };
            if (o === "duplicate") return claimOne(r.key, r.nowMs, r.windowMs);
            throw (o as { error: unknown }).error;
          }),
        );
      }),
    releaseDedupKey: (key) =>
      guard(async () => {
        await dedup.deleteOne({ _id: key });
      }),
    deleteDedupKeysBefore: (beforeMs) =>
      guard(async () => (await dedup.deleteMany({ claimedAtMs: { $lt: beforeMs } })).deletedCount),
    selectMessageByDedupKey: (dedupKey, sinceMs) =>
      guard(async () => {
        const doc = await messages.findOne(
          { dedupKey, timeMs: { $gte: sinceMs } },
          { sort: { timeMs: -1 } },
        );
        if (doc === null) return undefined;
        return toRecord(doc, await outbox.has(doc._id));
      }),
    allocateSeq: (conversationId) =>
      guard(
        async () =>
          (await exclusive(conversationId, () => incrementCounter(conversationId, 1))).seq,
      ),
    allocateSeqRanges: (requests) =>
      guard(() =>
        // One atomic findAndModify per conversation, concurrently: a batch
        // with several sends to one conversation takes their seqs in one
        // command. (A bulkWrite of $inc plus a read back would be two commands
        // for the whole batch but hands out overlapping ranges when another
        // allocation lands in between; FerretDB also runs a bulk update of
        // many statements far slower than the statements one by one.)
        Promise.all(
          requests.map(async (r) => {
            const doc = await exclusive(r.conversationId, () =>
              incrementCounter(r.conversationId, r.count),
            );
            return doc.seq - r.count + 1;
          }),
        ),
      ),
    selectLastSeq: (conversationId) =>
      guard(async () => (await seqs.findOne({ _id: conversationId }))?.seq ?? 0),
    appendMessages: (records) =>
      guard(async () =>
        (
          await outbox.insertMany(
            records.map((r) => ({ doc: toDoc(r), unpublished: r.unpublished })),
          )
        ).map(appendResultOf),
      ),
    insertMessage: (record) =>
      guard(async () => {
        if (!(await outbox.insert(toDoc(record), record.unpublished))) {
          throw new SeqTakenError(record.message.messageKey);
        }
      }),
    markPublished: (keys) => guard(() => outbox.remove(keys)),
    selectMessage: (conversationId, seq) =>
      guard(async () => {
        const doc = await messages.findOne({ _id: messageKeyOf(conversationId, seq) });
        return doc === null ? undefined : toRecord(doc, false);
      }),
    recallMessage: (tombstone) =>
      guard(() => outbox.recall(tombstone, toJson(MessageSchema, tombstone))),
    editMessage: (edited) => guard(() => outbox.edit(edited, toJson(MessageSchema, edited))),
    selectUnpublished: (beforeMs, limit) =>
      guard(async () => (await outbox.pending(beforeMs, limit)).map((d) => toRecord(d, true))),
    countUnpublished: (beforeMs) => guard(() => outbox.count(beforeMs)),
    selectMessagesAfter: (conversationId, { afterSeq, upToSeq, minTimeMs }, limit) =>
      guard(async () =>
        (
          await messages
            .find({
              conversationId,
              seq: upToSeq === 0 ? { $gt: afterSeq } : { $gt: afterSeq, $lte: upToSeq },
              timeMs: { $gte: minTimeMs },
            })
            .sort({ seq: 1 })
            .limit(limit)
            .toArray()
        ).map((d) => decode(d.message)),
      ),
    selectMessagesBefore: (conversationId, { aboveSeq, beforeSeq, minTimeMs, maxTimeMs }, limit) =>
      guard(async () =>
        (
          await messages
            .find({
              conversationId,
              seq: beforeSeq === 0 ? { $gt: aboveSeq } : { $gt: aboveSeq, $lt: beforeSeq },
              timeMs: { $gte: minTimeMs, $lte: maxTimeMs },
            })
            .sort({ seq: -1 })
            .limit(limit)
            .toArray()
        ).map((d) => decode(d.message)),
      ),
    countUnread: (conversationId, owner, afterSeq, minTimeMs) =>
      guard(() =>
        messages.countDocuments({
          conversationId,
          seq: { $gt: afterSeq },
          toUserId: owner,
          noUnread: false,
          recalled: { $ne: true },
          timeMs: { $gte: minTimeMs },
        }),
      ),
    upsertConversation: (u) => guard(() => upsertEntries([u])),
    upsertConversations: (updates) => guard(() => upsertEntries(updates)),
    selectConversations: (owner, after, limit) =>
      guard(async () => {
        const position =
          after === undefined
            ? {}
            : {
                $or: [
                  { updatedAtMs: { $lt: after.updatedAtMs } },
                  { updatedAtMs: after.updatedAtMs, conversationId: { $gt: after.conversationId } },
                ],
              };
        const docs = await conversations
          .find({ ownerUserId: owner, ...position })
          .sort({ updatedAtMs: -1, conversationId: 1 })
          .limit(limit)
          .toArray();
        return docs.map(toConversation);
      }),
    selectConversation: (owner, conversationId) =>
      guard(async () => {
        const doc = await conversations.findOne({ _id: convId(owner, conversationId) });
        return doc === null ? undefined : toConversation(doc);
      }),
    updateReadSeq: (owner, conversationId, peerUserId, readSeq) =>
      guard(() =>
        exclusive(convId(owner, conversationId), async () => {
          const doc = await conversations.findOneAndUpdate(
            { _id: convId(owner, conversationId) },
            {
              $max: { readSeq },
              $setOnInsert: {
                ownerUserId: owner,
                conversationId,
                peerUserId,
                lastSeq: 0,
                updatedAtMs: 0,
              },
            },
            { upsert: true, returnDocument: "after" },
          );
          return doc?.readSeq ?? readSeq;
        }),
      ),
  };
}
