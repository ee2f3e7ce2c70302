import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { Db, Filter } from "mongodb";
import type { GroupMessageRecord, GroupMessageStore } from "../../conversations/group/store.js";
import { messageKeyOf, SeqTakenError, splitMessageKey } from "../../conversations/store.js";
import {
  type GroupMessage,
  GroupMessageKind,
  GroupMessageSchema,
} from "../../gen/im/v1/group_pb.js";
import type { MongoCapabilities } from "./capabilities.js";
import { guard } from "./guard.js";
import { createKeyedMutex } from "./keyed-mutex.js";
import { appendResultOf, createOutboxCollection } from "./outbox-collection.js";
import { seqsAbove } from "./seq-filter.js";
import { createShardKeyFilter } from "./shard-keys.js";

interface GroupMessageDoc {
  /** The message key, "<groupId>:<seq>". */
  _id: string;
  groupId: string;
  seq: number;
  timeMs: number;
  kind: number;
  fromUserId: string;
  noUnread: boolean;
  /** Who the message @-mentions, for "mentioned me / all" (absent on older documents). */
  atUserIds?: string[];
  atAll?: boolean;
  /** The sender asked for read receipts (absent otherwise). */
  needReadReceipt?: boolean;
  dedupKey: string | null;
  skipAfterSendWebhook: boolean;
  skipSyncToSender: boolean;
  /** Set once recalled (`message` is then the tombstone); absent before. */
  recalled?: boolean;
  /** The latest edit's version (`message` is that version); absent before the first edit. */
  editVersion?: number;
  /** The message in proto JSON, so it reads naturally in the database. */
  message: JsonValue;
  /** For a TTL index on real MongoDB; reads enforce retention regardless. */
  expireAt: Date;
}

const decode = (json: JsonValue): GroupMessage =>
  fromJson(GroupMessageSchema, json, { ignoreUnknownFields: true });

export interface MongoGroupMessageStoreOptions {
  /** How long MongoDB may keep a message (TTL index where supported). */
  retentionMs: number;
}

export async function createMongoGroupMessageStore(
  db: Db,
  options: MongoGroupMessageStoreOptions,
  capabilities: Pick<MongoCapabilities, "atomicUpdates" | "indexedIdWithFields">,
): Promise<GroupMessageStore> {
  // Shard keys (docs/deployment.md, Shard keys): messages {groupId: 1, seq: 1}; the
  // outbox {_id: "hashed"}.
  const messages = db.collection<GroupMessageDoc>("group_messages");
  await Promise.all([
    // Catches a seq handed out twice across processes (FerretDB's non-atomic $inc).
    messages.createIndex({ groupId: 1, seq: 1 }, { unique: true }),
    messages.createIndex({ dedupKey: 1, timeMs: 1 }),
  ]);
  const byKey = createShardKeyFilter(capabilities);
  /** One message: by _id, plus the shard key on MongoDB. */
  const messageOf = (key: string) => {
    const k = splitMessageKey(key);
    return byKey<GroupMessageDoc>(
      key,
      k === undefined ? {} : { groupId: k.conversationId, seq: k.seq },
    );
  };
  // Not a flag on each message: FerretDB would scan every group message to find them.
  const outbox = await createOutboxCollection(
    db,
    "group_message_outbox",
    messages,
    createKeyedMutex(capabilities),
    messageOf,
  );
  // An extra where supported (FerretDB v1 does not expire documents).
  await messages.createIndex({ expireAt: 1 }, { expireAfterSeconds: 0 }).catch(() => {});

  const toDoc = (r: GroupMessageRecord): GroupMessageDoc => ({
    _id: r.message.messageKey,
    groupId: r.message.groupId,
    seq: Number(r.message.seq),
    timeMs: Number(r.message.timeMs),
    kind: r.message.kind,
    fromUserId: r.message.fromUserId,
    noUnread: r.message.noUnread,
    atUserIds: r.message.atUserIds,
    atAll: r.message.atAll,
    ...(r.message.needReadReceipt ? { needReadReceipt: true } : {}),
    dedupKey: r.dedupKey ?? null,
    skipAfterSendWebhook: r.skipAfterSendWebhook,
    skipSyncToSender: r.skipSyncToSender,
    message: toJson(GroupMessageSchema, r.message),
    expireAt: new Date(Number(r.message.timeMs) + options.retentionMs),
  });
  const toRecord = (d: GroupMessageDoc, unpublished: boolean): GroupMessageRecord => ({
    message: decode(d.message),
    dedupKey: d.dedupKey ?? undefined,
    unpublished,
    skipAfterSendWebhook: d.skipAfterSendWebhook,
    skipSyncToSender: d.skipSyncToSender,
  });

  return {
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
    selectMessageByDedupKey: (dedupKey, sinceMs) =>
      guard(async () => {
        const doc = await messages.findOne(
          { dedupKey, timeMs: { $gte: sinceMs } },
          { sort: { timeMs: -1 } },
        );
        return doc === null ? undefined : toRecord(doc, await outbox.has(doc._id));
      }),
    markPublished: (keys) => guard(() => outbox.remove(keys)),
    selectMessage: (groupId, seq) =>
      guard(async () => {
        const doc = await messages.findOne(messageOf(messageKeyOf(groupId, seq)));
        return doc === null ? undefined : toRecord(doc, false);
      }),
    recallMessage: (tombstone) =>
      guard(() => outbox.recall(tombstone, toJson(GroupMessageSchema, tombstone))),
    editMessage: (edited) => guard(() => outbox.edit(edited, toJson(GroupMessageSchema, edited))),
    selectUnpublished: (beforeMs, limit) =>
      guard(async () => (await outbox.pending(beforeMs, limit)).map((d) => toRecord(d, true))),
    countUnpublished: (beforeMs) => guard(() => outbox.count(beforeMs)),
    selectMessagesAfter: (groupId, { afterSeq, upToSeq, minTimeMs }, limit) =>
      guard(async () =>
        (
          await messages
            .find({
              groupId,
              seq: upToSeq === 0 ? { $gt: afterSeq } : { $gt: afterSeq, $lte: upToSeq },
              timeMs: { $gte: minTimeMs },
            })
            .sort({ seq: 1 })
            .limit(limit)
            .toArray()
        ).map((d) => decode(d.message)),
      ),
    selectMessagesBefore: (groupId, { aboveSeq, beforeSeq, minTimeMs, maxTimeMs }, limit) =>
      guard(async () =>
        (
          await messages
            .find({
              groupId,
              seq: beforeSeq === 0 ? { $gt: aboveSeq } : { $gt: aboveSeq, $lt: beforeSeq },
              timeMs: { $gte: minTimeMs, $lte: maxTimeMs },
            })
            .sort({ seq: -1 })
            .limit(limit)
            .toArray()
        ).map((d) => decode(d.message)),
      ),
    countGroupUnread: (groupId, owner, afterSeq, minTimeMs, exceptSeqs = []) =>
      guard(() =>
        messages.countDocuments({
          groupId,
          seq: seqsAbove(afterSeq, exceptSeqs),
          timeMs: { $gte: minTimeMs },
          kind: GroupMessageKind.NORMAL,
          noUnread: false,
          recalled: { $ne: true },
          fromUserId: { $ne: owner },
        }),
      ),
    selectGroupMentions: (groupId, userId, afterSeq, minTimeMs, exceptSeqs = []) =>
      guard(async () => {
        const unread = {
          groupId,
          seq: seqsAbove(afterSeq, exceptSeqs),
          timeMs: { $gte: minTimeMs },
          kind: GroupMessageKind.NORMAL,
          recalled: { $ne: true },
          fromUserId: { $ne: userId },
        };
        const found = (filter: Filter<GroupMessageDoc>) =>
          messages.findOne({ ...unread, ...filter }, { projection: { _id: 1 } });
        const [me, all] = await Promise.all([found({ atUserIds: userId }), found({ atAll: true })]);
        return { me: me !== null, all: all !== null };
      }),
    selectReceiptRequests: (groupId, { afterSeq, upToSeq, minTimeMs }) =>
      guard(async () =>
        (
          await messages
            .find(
              {
                groupId,
                seq: { $gt: afterSeq, $lte: upToSeq },
                timeMs: { $gte: minTimeMs },
                kind: GroupMessageKind.NORMAL,
                needReadReceipt: true,
                recalled: { $ne: true },
              },
              { projection: { _id: 1, seq: 1, fromUserId: 1 } },
            )
            .sort({ seq: 1 })
            .toArray()
        ).map((d) => ({ seq: d.seq, messageKey: d._id, fromUserId: d.fromUserId })),
      ),
    deleteGroupMessages: (groupId) =>
      guard(async () => {
        await messages.deleteMany({ groupId });
      }),
  };
}
