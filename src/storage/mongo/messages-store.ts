import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { Collection, Db } from "mongodb";
import { c2cUsersOf } from "../../conversations/c2c/conversation-id.js";
import type {
  ConversationRecord,
  MessageRecord,
  MessageStore,
} from "../../conversations/c2c/store.js";
import {
  type DedupClaim,
  messageKeyOf,
  SeqTakenError,
  splitMessageKey,
} from "../../conversations/store.js";
import { type Message, MessageSchema } from "../../gen/im/v1/message_pb.js";
import type { MongoCapabilities } from "./capabilities.js";
import { guard, isDuplicateKey } from "./guard.js";
import { createKeyedMutex } from "./keyed-mutex.js";
import { appendResultOf, createOutboxCollection, insertEach } from "./outbox-collection.js";
import { seqsAbove } from "./seq-filter.js";
import { createShardKeyFilter } from "./shard-keys.js";

interface DedupDoc {
  _id: string;
  claimedAtMs: number;
}
/** A conversation's counter, which is also its entry in both users' lists. */
interface SeqDoc {
  _id: string;
  seq: number;
  /** The two users (absent on counters written before the lists read them: backfilled). */
  members?: [string, string];
  /** When a seq was last allocated: the lists' order. */
  updatedAtMs?: number;
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
/** One user's read seq in one conversation (fields of older versions may remain). */
interface ReadDoc {
  _id: string;
  ownerUserId: string;
  conversationId: string;
  readSeq: number;
  /** Written by versions that kept a list entry per user; read once by the backfill. */
  updatedAtMs?: number;
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
  // {_id: "hashed"}; messages {conversationId: 1, seq: 1}; read seqs
  // {ownerUserId: 1, conversationId: 1}.
  const dedup = db.collection<DedupDoc>("message_dedup");
  const seqs = db.collection<SeqDoc>("conversation_seqs");
  const messages = db.collection<MessageDoc>("messages");
  const reads = db.collection<ReadDoc>("conversations");
  const exclusive = createKeyedMutex(capabilities);
  const byKey = createShardKeyFilter(capabilities);
  /** One message: by _id, plus the shard key on MongoDB. */
  const messageOf = (key: string) => byKey<MessageDoc>(key, splitMessageKey(key) ?? {});
  const outbox = await createOutboxCollection(db, "message_outbox", messages, exclusive, messageOf);
  await Promise.all([
    messages.createIndex({ conversationId: 1, seq: 1 }, { unique: true }),
    messages.createIndex({ dedupKey: 1, timeMs: 1 }),
    seqs.createIndex({ members: 1, updatedAtMs: -1, _id: 1 }),
    dedup.createIndex({ claimedAtMs: 1 }),
  ]);
  // TTL indexes are an extra on servers that support them (FerretDB v1 does not
  // expire documents); retention is always enforced on reads.
  await messages.createIndex({ expireAt: 1 }, { expireAfterSeconds: 0 }).catch(() => {});
  await backfillMembers(seqs, reads);

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
  /** The newest message of the conversation up to `seq` that the lists show, in its latest version. */
  const lastListed = async (conversationId: string, seq: number): Promise<Message | undefined> => {
    // Nearly always the message of the counter's seq: one _id lookup.
    const top = await messages.findOne(messageOf(messageKeyOf(conversationId, seq)));
    if (top !== null && !top.noLastMessage) return decode(top.message);
    const [below] = await messages
      .find({ conversationId, seq: { $lt: seq }, noLastMessage: false })
      .sort({ seq: -1 })
      .limit(1)
      .toArray();
    return below && decode(below.message);
  };
  const readSeqsOf = async (
    owner: string,
    ids: readonly string[],
  ): Promise<Map<string, number>> => {
    const keys = ids.map((id) => convId(owner, id));
    const docs = capabilities.indexedIdIn
      ? await reads.find(byKey<ReadDoc>({ $in: keys }, { ownerUserId: owner })).toArray()
      : (await Promise.all(keys.map((_id) => reads.findOne({ _id })))).filter((d) => d !== null);
    return new Map(docs.map((d) => [d.conversationId, d.readSeq]));
  };
  const toConversations = async (owner: string, docs: SeqDoc[]): Promise<ConversationRecord[]> => {
    const [readSeqs, lasts] = await Promise.all([
      readSeqsOf(
        owner,
        docs.map((d) => d._id),
      ),
      Promise.all(docs.map((d) => lastListed(d._id, d.seq))),
    ]);
    return docs.map((d, i) => ({
      ownerUserId: owner,
      conversationId: d._id,
      peerUserId: d.members?.find((m) => m !== owner) ?? owner,
      lastSeq: d.seq,
      lastMessage: lasts[i],
      readSeq: readSeqs.get(d._id) ?? 0,
      updatedAtMs: d.updatedAtMs ?? 0,
    }));
  };
  const convId = (owner: string, conversationId: string) => `${owner}|${conversationId}`;
  /**
   * `$inc` upsert of a conversation's counter, returning it after (run under its
   * lock). The same write moves the conversation up both users' lists.
   */
  const incrementCounter = async (
    conversationId: string,
    by: number,
    nowMs: number,
  ): Promise<SeqDoc> => {
    const members = c2cUsersOf(conversationId);
    for (let attempt = 0; ; attempt++) {
      try {
        const doc = await seqs.findOneAndUpdate(
          { _id: conversationId },
          {
            $inc: { seq: by },
            $max: { updatedAtMs: nowMs },
            ...(members === undefined ? {} : { $setOnInsert: { members } }),
          },
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
    allocateSeq: (conversationId, nowMs) =>
      guard(
        async () =>
          (await exclusive(conversationId, () => incrementCounter(conversationId, 1, nowMs))).seq,
      ),
    allocateSeqRanges: (requests, nowMs) =>
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
              incrementCounter(r.conversationId, r.count, nowMs),
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
        const doc = await messages.findOne(messageOf(messageKeyOf(conversationId, seq)));
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
    countUnread: (conversationId, owner, afterSeq, minTimeMs, exceptSeqs = []) =>
      guard(() =>
        messages.countDocuments({
          conversationId,
          seq: seqsAbove(afterSeq, exceptSeqs),
          toUserId: owner,
          noUnread: false,
          recalled: { $ne: true },
          timeMs: { $gte: minTimeMs },
        }),
      ),
    selectConversations: (owner, after, limit) =>
      guard(async () => {
        const position =
          after === undefined
            ? {}
            : {
                $or: [
                  { updatedAtMs: { $lt: after.updatedAtMs } },
                  { updatedAtMs: after.updatedAtMs, _id: { $gt: after.conversationId } },
                ],
              };
        const docs = await seqs
          .find({ members: owner, ...position })
          .sort({ updatedAtMs: -1, _id: 1 })
          .limit(limit)
          .toArray();
        return toConversations(owner, docs);
      }),
    selectConversationSeqs: (owner, limit) =>
      guard(async () => {
        // selectConversations' first page, without a last-message read per conversation.
        const docs = await seqs
          .find({ members: owner })
          .sort({ updatedAtMs: -1, _id: 1 })
          .limit(limit)
          .toArray();
        const readSeqs = await readSeqsOf(
          owner,
          docs.map((d) => d._id),
        );
        return docs.map((d) => ({
          conversationId: d._id,
          lastSeq: d.seq,
          readSeq: readSeqs.get(d._id) ?? 0,
        }));
      }),
    selectLastListed: (conversationId, { aboveSeq, exceptSeqs }) =>
      guard(async () => {
        const [newest] = await messages
          .find({ conversationId, seq: seqsAbove(aboveSeq, exceptSeqs), noLastMessage: false })
          .sort({ seq: -1 })
          .limit(1)
          .toArray();
        return newest && decode(newest.message);
      }),
    selectReadSeq: (owner, conversationId) =>
      guard(
        async () =>
          (
            await reads.findOne(
              byKey<ReadDoc>(convId(owner, conversationId), { ownerUserId: owner, conversationId }),
            )
          )?.readSeq ?? 0,
      ),
    updateReadSeq: (owner, conversationId, readSeq) =>
      guard(() =>
        exclusive(convId(owner, conversationId), async () => {
          const doc = await reads.findOneAndUpdate(
            byKey<ReadDoc>(convId(owner, conversationId), { ownerUserId: owner, conversationId }),
            { $max: { readSeq }, $setOnInsert: { ownerUserId: owner, conversationId } },
            { upsert: true, returnDocument: "before" },
          );
          const before = doc?.readSeq ?? 0;
          return { before, after: Math.max(before, readSeq) };
        }),
      ),
  };
}

/**
 * Counters written before the lists were read from them carry no members:
 * sets them (and the time of the owners' former list entries) once, at start.
 */
async function backfillMembers(
  seqs: Collection<SeqDoc>,
  reads: Collection<ReadDoc>,
): Promise<void> {
  const bare = await seqs.find({ members: { $exists: false } }).toArray();
  const pairs = bare.flatMap((d) => {
    const members = c2cUsersOf(d._id);
    return members === undefined ? [] : [{ id: d._id, members }];
  });
  if (pairs.length === 0) return;
  const updatedAt = new Map<string, number>();
  for (const r of await reads.find({ updatedAtMs: { $exists: true } }).toArray()) {
    updatedAt.set(
      r.conversationId,
      Math.max(updatedAt.get(r.conversationId) ?? 0, r.updatedAtMs ?? 0),
    );
  }
  await Promise.all(
    pairs.map(({ id, members }) =>
      seqs.updateOne(
        { _id: id },
        { $set: { members }, $max: { updatedAtMs: updatedAt.get(id) ?? 0 } },
      ),
    ),
  );
}
