import { Binary, type Db } from "mongodb";
import type { CustomValue } from "../../profiles/custom-fields.js";
import type {
  BlockRecord,
  FriendListRecord,
  FriendRecord,
  FriendRequestRecord,
  RelationStore,
} from "../../relations/store.js";
import type { MongoCapabilities } from "./capabilities.js";
import { guard, isDuplicateKey } from "./guard.js";
import { createShardKeyFilter } from "./shard-keys.js";

// Pair documents use "<a>:<b>" as _id: user ids never contain ':', so the key is
// unique and an insert of an existing pair fails instead of duplicating it.
const key = (a: string, b: string) => `${a}:${b}`;

type StoredCustom = Record<string, string | Binary>;

interface FriendDoc extends Omit<FriendRecord, "custom"> {
  _id: string;
  custom: StoredCustom;
}
interface RequestDoc extends FriendRequestRecord {
  _id: string;
}
interface ListDoc extends Omit<FriendListRecord, "listId"> {
  _id: string;
}
interface BlockDoc extends BlockRecord {
  _id: string;
}

// By the upserted _id, not the op index: FerretDB v1 reports wrong indexes for
// bulk upserts that follow a matched (non-upserted) op.
const upsertedIdSet = (upserted: Record<number, unknown>): Set<unknown> =>
  new Set(Object.values(upserted));

export async function createMongoRelationStore(
  db: Db,
  capabilities: Pick<MongoCapabilities, "indexedIdWithFields">,
): Promise<RelationStore> {
  // Shard keys (docs/deployment.md, Shard keys): friends {ownerId: 1, friendId: 1},
  // requests {toUserId: 1, fromUserId: 1}, lists {ownerId: 1, name: 1}, blocks
  // {ownerId: 1, blockedId: 1}.
  const friends = db.collection<FriendDoc>("friends");
  const requests = db.collection<RequestDoc>("friend_requests");
  const lists = db.collection<ListDoc>("friend_lists");
  const blocks = db.collection<BlockDoc>("blocks");
  await Promise.all([
    friends.createIndex({ ownerId: 1, friendId: 1 }),
    friends.createIndex({ friendId: 1 }),
    requests.createIndex({ toUserId: 1, createdAtMs: 1 }),
    requests.createIndex({ fromUserId: 1, createdAtMs: 1 }),
    lists.createIndex({ ownerId: 1, name: 1 }, { unique: true }),
    blocks.createIndex({ ownerId: 1, blockedId: 1 }),
    blocks.createIndex({ blockedId: 1 }),
  ]);
  // Pair documents are found by _id, plus their shard key on MongoDB.
  const byKey = createShardKeyFilter(capabilities);
  const friendsOf = (ownerId: string, ids: readonly string[]) =>
    byKey<FriendDoc>({ $in: ids.map((id) => key(ownerId, id)) }, { ownerId });

  const selectFriendDocs = async (ownerId: string, friendIds: readonly string[]) =>
    friends.find(friendsOf(ownerId, friendIds)).toArray();

  return {
    insertFriends: (records) =>
      guard(async () => {
        if (records.length === 0) return [];
        // Upsert with $setOnInsert: present pairs are matched and left as they are.
        const result = await friends.bulkWrite(
          records.map((r) => ({
            updateOne: {
              filter: byKey<FriendDoc>(key(r.ownerId, r.friendId), {
                ownerId: r.ownerId,
                friendId: r.friendId,
              }),
              update: { $setOnInsert: toFriendDoc(r) },
              upsert: true,
            },
          })),
          { ordered: true },
        );
        const inserted = upsertedIdSet(result.upsertedIds);
        return records
          .filter((r) => inserted.has(key(r.ownerId, r.friendId)))
          .map((r) => ({ ownerId: r.ownerId, otherId: r.friendId }));
      }),
    updateFriend: (ownerId, friendId, patch) =>
      guard(async () => {
        const $set: Record<string, unknown> = {};
        if (patch.remark !== undefined) $set.remark = patch.remark;
        if (patch.listIds !== undefined) $set.listIds = [...new Set(patch.listIds)];
        for (const [name, v] of Object.entries(patch.setCustom ?? {}))
          $set[`custom.${name}`] = toStoredValue(v);
        const $unset = Object.fromEntries(
          (patch.unsetCustom ?? []).map((n) => [`custom.${n}`, ""]),
        );
        const update: Record<string, unknown> = {};
        if (Object.keys($set).length > 0) update.$set = $set;
        if (Object.keys($unset).length > 0) update.$unset = $unset;
        const _id = key(ownerId, friendId);
        if (Object.keys(update).length > 0)
          await friends.updateOne(byKey<FriendDoc>(_id, { ownerId, friendId }), update);
        const doc = await friends.findOne(byKey<FriendDoc>(_id, { ownerId, friendId }));
        return doc === null ? undefined : toFriendRecord(doc);
      }),
    deleteFriends: (pairs) =>
      guard(async () => {
        const ids = pairs.map((p) => key(p.ownerId, p.otherId));
        if (ids.length === 0) return [];
        const ofOwners = (idIn: { $in: string[] }) =>
          byKey<FriendDoc>(idIn, { ownerId: { $in: [...new Set(pairs.map((p) => p.ownerId))] } });
        const existing = new Set(
          (await friends.find(ofOwners({ $in: ids }), { projection: { _id: 1 } }).toArray()).map(
            (d) => d._id,
          ),
        );
        if (existing.size === 0) return [];
        await friends.deleteMany(ofOwners({ $in: [...existing] }));
        return pairs.filter((p) => existing.has(key(p.ownerId, p.otherId)));
      }),
    selectFriends: (ownerId, friendIds) =>
      guard(async () => {
        const docs = await selectFriendDocs(ownerId, friendIds);
        return new Map(docs.map((d) => [d.friendId, toFriendRecord(d)]));
      }),
    selectFriendsPage: (ownerId, after, limit) =>
      guard(async () => {
        const filter = after === undefined ? { ownerId } : { ownerId, friendId: { $gt: after } };
        const docs = await friends.find(filter).sort({ friendId: 1 }).limit(limit).toArray();
        return docs.map(toFriendRecord);
      }),
    countFriends: (ownerId) => guard(() => friends.countDocuments({ ownerId })),
    selectFriendOwners: (friendId, ownerIds) =>
      guard(async () => {
        const filter =
          ownerIds === undefined
            ? { friendId }
            : byKey<FriendDoc>(
                { $in: ownerIds.map((o) => key(o, friendId)) },
                { ownerId: { $in: ownerIds }, friendId },
              );
        const docs = await friends.find(filter, { projection: { ownerId: 1 } }).toArray();
        return docs.map((d) => d.ownerId);
      }),
    addFriendsToList: (ownerId, friendIds, listId) =>
      guard(async () => {
        if (friendIds.length === 0) return;
        await friends.updateMany(friendsOf(ownerId, friendIds), { $addToSet: { listIds: listId } });
      }),
    removeFriendsFromList: (ownerId, friendIds, listId) =>
      guard(async () => {
        const filter =
          friendIds === undefined ? { ownerId, listIds: listId } : friendsOf(ownerId, friendIds);
        await friends.updateMany(filter, { $pull: { listIds: listId } });
      }),
    selectFriendListMembers: (ownerId) =>
      guard(async () => {
        const docs = await friends
          .find({ ownerId }, { projection: { friendId: 1, listIds: 1 } })
          .sort({ friendId: 1 })
          .toArray();
        const members = new Map<string, string[]>();
        for (const d of docs) {
          for (const listId of d.listIds ?? [])
            members.set(listId, [...(members.get(listId) ?? []), d.friendId]);
        }
        return members;
      }),

    upsertFriendRequest: (record) =>
      guard(async () => {
        const result = await requests.replaceOne(
          byKey<RequestDoc>(key(record.fromUserId, record.toUserId), {
            toUserId: record.toUserId,
            fromUserId: record.fromUserId,
          }),
          { ...record },
          { upsert: true },
        );
        return result.upsertedCount === 1 ? "created" : "replaced";
      }),
    selectFriendRequest: (from, to) =>
      guard(async () => {
        const doc = await requests.findOne(
          byKey<RequestDoc>(key(from, to), { toUserId: to, fromUserId: from }),
        );
        return doc === null ? undefined : toRequestRecord(doc);
      }),
    deleteFriendRequest: (from, to) =>
      guard(async () => {
        const doc = await requests.findOneAndDelete(
          byKey<RequestDoc>(key(from, to), { toUserId: to, fromUserId: from }),
        );
        return doc === null ? undefined : toRequestRecord(doc);
      }),
    selectFriendRequests: (userId, direction) =>
      guard(async () => {
        const incoming = direction === "incoming";
        const docs = await requests
          .find(incoming ? { toUserId: userId } : { fromUserId: userId })
          .sort(incoming ? { createdAtMs: 1, fromUserId: 1 } : { createdAtMs: 1, toUserId: 1 })
          .toArray();
        return docs.map(toRequestRecord);
      }),
    countFriendRequests: (userId, direction) =>
      guard(() =>
        requests.countDocuments(
          direction === "incoming" ? { toUserId: userId } : { fromUserId: userId },
        ),
      ),

    insertFriendList: (record) =>
      guard(async () => {
        try {
          const { listId, ...rest } = record;
          await lists.insertOne({ _id: listId, ...rest });
          return true;
        } catch (err) {
          if (isDuplicateKey(err)) return false;
          throw err;
        }
      }),
    selectFriendLists: (ownerId) =>
      guard(async () => {
        const docs = await lists.find({ ownerId }).sort({ createdAtMs: 1, name: 1 }).toArray();
        return docs.map(toListRecord);
      }),
    renameFriendList: (ownerId, name, newName) =>
      guard(async () => {
        try {
          const result = await lists.updateOne({ ownerId, name }, { $set: { name: newName } });
          return result.matchedCount === 1 ? "renamed" : "not-found";
        } catch (err) {
          if (isDuplicateKey(err)) return "name-taken";
          throw err;
        }
      }),
    deleteFriendList: (ownerId, name) =>
      guard(async () => {
        const doc = await lists.findOneAndDelete({ ownerId, name });
        return doc === null ? undefined : toListRecord(doc);
      }),

    insertBlocks: (ownerId, blockedIds, nowMs) =>
      guard(async () => {
        if (blockedIds.length === 0) return [];
        const result = await blocks.bulkWrite(
          blockedIds.map((id) => ({
            updateOne: {
              filter: byKey<BlockDoc>(key(ownerId, id), { ownerId, blockedId: id }),
              update: { $setOnInsert: { ownerId, blockedId: id, blockedAtMs: nowMs } },
              upsert: true,
            },
          })),
          { ordered: true },
        );
        const inserted = upsertedIdSet(result.upsertedIds);
        return blockedIds.filter((id) => inserted.has(key(ownerId, id)));
      }),
    deleteBlocks: (ownerId, blockedIds) =>
      guard(async () => {
        const existing = await selectBlocked(ownerId, blockedIds);
        if (existing.size === 0) return [];
        await blocks.deleteMany(
          byKey<BlockDoc>({ $in: [...existing].map((id) => key(ownerId, id)) }, { ownerId }),
        );
        return blockedIds.filter((id) => existing.has(id));
      }),
    selectBlocksPage: (ownerId, after, limit) =>
      guard(async () => {
        const filter = after === undefined ? { ownerId } : { ownerId, blockedId: { $gt: after } };
        const docs = await blocks.find(filter).sort({ blockedId: 1 }).limit(limit).toArray();
        return docs.map(({ _id, ...rest }) => rest);
      }),
    countBlocks: (ownerId) => guard(() => blocks.countDocuments({ ownerId })),
    selectBlockedAmong: (ownerId, blockedIds) => guard(() => selectBlocked(ownerId, blockedIds)),
    selectBlockersAmong: (blockedId, ownerIds) =>
      guard(async () => {
        if (ownerIds.length === 0) return new Set<string>();
        const docs = await blocks
          .find(
            byKey<BlockDoc>(
              { $in: ownerIds.map((o) => key(o, blockedId)) },
              { ownerId: { $in: ownerIds }, blockedId },
            ),
            { projection: { ownerId: 1 } },
          )
          .toArray();
        return new Set(docs.map((d) => d.ownerId));
      }),
  };

  async function selectBlocked(
    ownerId: string,
    blockedIds: readonly string[],
  ): Promise<Set<string>> {
    if (blockedIds.length === 0) return new Set();
    const docs = await blocks
      .find(byKey<BlockDoc>({ $in: blockedIds.map((id) => key(ownerId, id)) }, { ownerId }), {
        projection: { blockedId: 1 },
      })
      .toArray();
    return new Set(docs.map((d) => d.blockedId));
  }
}

const toStoredValue = (v: CustomValue): string | Binary =>
  typeof v === "string" ? v : new Binary(v);

function toFriendDoc(r: FriendRecord): Omit<FriendDoc, "_id"> {
  const custom: StoredCustom = {};
  for (const [name, v] of Object.entries(r.custom)) custom[name] = toStoredValue(v);
  return { ...r, listIds: [...new Set(r.listIds)], custom };
}

function toFriendRecord(doc: FriendDoc): FriendRecord {
  const { _id, custom, ...rest } = doc;
  const values: Record<string, CustomValue> = {};
  for (const [name, v] of Object.entries(custom ?? {})) {
    values[name] = typeof v === "string" ? v : new Uint8Array(v.value());
  }
  return { ...rest, listIds: rest.listIds ?? [], custom: values };
}

function toRequestRecord(doc: RequestDoc): FriendRequestRecord {
  const { _id, ...rest } = doc;
  return rest;
}

function toListRecord(doc: ListDoc): FriendListRecord {
  const { _id, ...rest } = doc;
  return { listId: _id, ...rest };
}
