import type { Binary, Db, UpdateFilter } from "mongodb";
import type { GroupRole, MessageReceiveOption } from "../../gen/im/v1/group_pb.js";
import type { GroupMemberRecord, GroupMemberStore } from "../../groups/store.js";
import type { MongoCapabilities } from "./capabilities.js";
import { fieldChangesToUpdate, fieldsFromDoc, fieldsToDoc } from "./group-store.js";
import { DUPLICATE_KEY, guard } from "./guard.js";
import { createKeyedMutex, guardExclusive } from "./keyed-mutex.js";
import { createShardKeyFilter } from "./shard-keys.js";

interface MemberDoc {
  /** memberKey(groupId, userId): point lookups filter on _id (FerretDB v1 indexes only that). */
  _id: string;
  groupId: string;
  userId: string;
  role: GroupRole;
  joinedAtMs: number;
  joinSeq: number;
  readSeq: number;
  receiveOption: MessageReceiveOption;
  lastSendTimeMs: number;
  nameCard: string;
  customFields: Record<string, Binary>;
}

interface MuteDoc {
  groupId: string;
  userId: string;
  untilMs: number;
}

export async function createMongoGroupMemberStore(
  db: Db,
  capabilities: MongoCapabilities,
): Promise<GroupMemberStore> {
  // Shard keys (docs/deployment.md, Shard keys): members and mutes {groupId: 1, userId: 1}.
  const members = db.collection<MemberDoc>("group_members");
  const mutes = db.collection<MuteDoc>("group_mutes");
  await Promise.all([
    // Membership identity, and the paged walk of a group in userId order.
    members.createIndex({ groupId: 1, userId: 1 }, { unique: true }),
    // A user's groups in groupId order.
    members.createIndex({ userId: 1, groupId: 1 }),
    mutes.createIndex({ groupId: 1, userId: 1 }, { unique: true }),
  ]);
  const project = { projection: { _id: 0 } } as const;
  const exclusive = createKeyedMutex(capabilities);
  const byKey = createShardKeyFilter(capabilities);
  // One member's reads and writes: by _id, plus the shard key on MongoDB.
  const member = (groupId: string, userId: string) =>
    byKey<MemberDoc>(memberKey(groupId, userId), { groupId, userId });

  return {
    insertMembers: (records) =>
      guard(async () => {
        if (records.length === 0) return [];
        // The unique (groupId, userId) index decides who is new, atomically even
        // on FerretDB; duplicate-key errors mark the existing members.
        try {
          await members.insertMany(records.map(toDoc), { ordered: false });
          return records.map((r) => r.userId);
        } catch (err) {
          const writeErrors = (err as { writeErrors?: { code: number; index: number }[] })
            .writeErrors;
          if (writeErrors === undefined || writeErrors.some((e) => e.code !== DUPLICATE_KEY)) {
            throw err;
          }
          const existing = new Set(writeErrors.map((e) => e.index));
          return records.filter((_, i) => !existing.has(i)).map((r) => r.userId);
        }
      }),
    selectMember: (groupId, userId) =>
      guard(async () => {
        const doc = await members.findOne(member(groupId, userId), project);
        return doc === null ? undefined : toRecord(doc);
      }),
    selectMembers: (groupId, userIds) =>
      guard(async () => {
        if (userIds.length === 0) return [];
        const docs = await Promise.all(
          [...new Set(userIds)].map((id) => members.findOne(member(groupId, id), project)),
        );
        return docs.flatMap((d) => (d === null ? [] : [toRecord(d)]));
      }),
    selectMembersPage: (groupId, afterUserId, limit) =>
      guard(async () => {
        const docs = await members
          .find({ groupId, userId: { $gt: afterUserId } }, project)
          .sort({ groupId: 1, userId: 1 })
          .limit(limit)
          .toArray();
        return docs.map(toRecord);
      }),
    selectMembersByRole: (groupId, roles) =>
      guard(async () => {
        const docs = await members
          .find({ groupId, role: { $in: [...roles] } }, project)
          .sort({ groupId: 1, userId: 1 })
          .toArray();
        return docs.map(toRecord);
      }),
    selectMembershipsOfUser: (userId, afterGroupId, limit, roles) =>
      guard(async () => {
        const filter =
          roles === undefined
            ? { userId, groupId: { $gt: afterGroupId } }
            : { userId, groupId: { $gt: afterGroupId }, role: { $in: [...roles] } };
        const docs = await members
          .find(filter, project)
          .sort({ userId: 1, groupId: 1 })
          .limit(limit)
          .toArray();
        return docs.map(toRecord);
      }),
    deleteMembers: (groupId, userIds) =>
      guard(async () => {
        if (userIds.length === 0) return [];
        const existing = await members
          .find({ groupId, userId: { $in: [...userIds] } }, { projection: { userId: 1 } })
          .toArray();
        if (existing.length === 0) return [];
        const ids = new Set(existing.map((d) => d.userId));
        await members.deleteMany({ groupId, userId: { $in: [...ids] } });
        return [...new Set(userIds)].filter((id) => ids.has(id));
      }),
    deleteAllMembers: (groupId) =>
      guard(async () => {
        await members.deleteMany({ groupId });
      }),
    updateMemberRole: (groupId, userId, role) =>
      guard(
        async () =>
          (await members.updateOne(member(groupId, userId), { $set: { role } })).matchedCount === 1,
      ),
    updateMemberProfile: (groupId, userId, patch) =>
      guard(async () => {
        const { customFields, ...plain } = patch;
        const fields = fieldChangesToUpdate("customFields", customFields ?? {});
        const set = { ...plain, ...fields.set };
        const update: UpdateFilter<MemberDoc> = {};
        if (Object.keys(set).length > 0) update.$set = set;
        if (Object.keys(fields.unset).length > 0) update.$unset = fields.unset;
        if (Object.keys(update).length === 0) {
          const doc = await members.findOne(member(groupId, userId), project);
          return doc === null ? undefined : toRecord(doc);
        }
        const doc = await exclusive(memberKey(groupId, userId), () =>
          members.findOneAndUpdate(member(groupId, userId), update, { returnDocument: "after" }),
        );
        return doc === null ? undefined : toRecord(doc);
      }),
    updateMemberReadSeq: (groupId, userId, seq) =>
      guardExclusive(exclusive, memberKey(groupId, userId), async () => {
        const doc = await members.findOneAndUpdate(
          member(groupId, userId),
          { $max: { readSeq: seq } },
          { returnDocument: "before" },
        );
        return doc === null
          ? undefined
          : { before: doc.readSeq, after: Math.max(doc.readSeq, seq) };
      }),
    updateMemberLastSend: (groupId, userId, atMs) =>
      guard(async () => {
        await members.updateOne(member(groupId, userId), { $set: { lastSendTimeMs: atMs } });
      }),
    upsertMutes: (groupId, userIds, untilMs) =>
      guard(async () => {
        if (userIds.length === 0) return;
        if (untilMs === 0) {
          await mutes.deleteMany({ groupId, userId: { $in: [...userIds] } });
          return;
        }
        await mutes.bulkWrite(
          [...new Set(userIds)].map((userId) => ({
            updateOne: {
              filter: { groupId, userId },
              update: { $set: { untilMs } },
              upsert: true,
            },
          })),
        );
      }),
    selectMutes: (groupId, userIds) =>
      guard(async () => {
        const out = new Map<string, number>();
        if (userIds.length === 0) return out;
        const docs = await mutes.find({ groupId, userId: { $in: [...userIds] } }).toArray();
        for (const d of docs) out.set(d.userId, d.untilMs);
        return out;
      }),
    deleteGroupMutes: (groupId) =>
      guard(async () => {
        await mutes.deleteMany({ groupId });
      }),
  };
}

const memberKey = (groupId: string, userId: string) => `${groupId}\u0000${userId}`;

function toDoc(r: GroupMemberRecord): MemberDoc {
  return { _id: memberKey(r.groupId, r.userId), ...r, customFields: fieldsToDoc(r.customFields) };
}

function toRecord(d: MemberDoc & { _id?: unknown }): GroupMemberRecord {
  const { _id, ...rest } = d;
  return { ...rest, customFields: fieldsFromDoc(d.customFields) };
}
