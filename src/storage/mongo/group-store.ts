import { Binary, type Db, type UpdateFilter } from "mongodb";
import type { ApplyJoinOption, GroupType } from "../../gen/im/v1/group_pb.js";
import type { FieldChanges, FieldValues, GroupRecord, GroupStore } from "../../groups/store.js";
import type { MongoCapabilities } from "./capabilities.js";
import { guard, isDuplicateKey } from "./guard.js";
import { createKeyedMutex, guardExclusive } from "./keyed-mutex.js";

interface GroupDoc {
  _id: string;
  type: GroupType;
  name: string;
  introduction: string;
  notification: string;
  faceUrl: string;
  ownerUserId: string;
  createdAtMs: number;
  infoSeq: number;
  lastInfoTimeMs: number;
  lastMessageTimeMs: number;
  lastSeq: number;
  memberCount: number;
  maxMemberCount: number;
  applyJoinOption: ApplyJoinOption;
  muteAll: boolean;
  customFields: Record<string, Binary>;
  active: boolean;
}

export async function createMongoGroupStore(
  db: Db,
  capabilities: MongoCapabilities,
): Promise<GroupStore> {
  // _id is the group id: uniqueness of custom ids and point lookups need no extra index.
  // Shard key {_id: "hashed"} (docs/deployment.md, Shard keys).
  const groups = db.collection<GroupDoc>("groups");
  const exclusive = createKeyedMutex(capabilities);
  return {
    insertGroup: (group) =>
      guard(async () => {
        try {
          await groups.insertOne(toDoc(group));
          return true;
        } catch (err) {
          if (isDuplicateKey(err)) return false;
          throw err;
        }
      }),
    selectGroup: (groupId) =>
      guard(async () => {
        const doc = await groups.findOne({ _id: groupId });
        return doc === null ? undefined : toRecord(doc);
      }),
    selectGroups: (groupIds) =>
      guard(async () => {
        if (groupIds.length === 0) return [];
        const docs = await groups.find({ _id: { $in: [...new Set(groupIds)] } }).toArray();
        return docs.map(toRecord);
      }),
    updateGroupProfile: (groupId, patch, nowMs) =>
      guardExclusive(exclusive, groupId, async () => {
        const { customFields, ...plain } = patch;
        const fields = fieldChangesToUpdate("customFields", customFields ?? {});
        const update: UpdateFilter<GroupDoc> = {
          $set: { ...plain, ...fields.set, lastInfoTimeMs: nowMs },
          $inc: { infoSeq: 1 },
        };
        if (Object.keys(fields.unset).length > 0) update.$unset = fields.unset;
        const doc = await groups.findOneAndUpdate({ _id: groupId }, update, {
          returnDocument: "after",
        });
        return doc === null ? undefined : toRecord(doc);
      }),
    updateGroupOwner: (groupId, ownerUserId, nowMs) =>
      guardExclusive(exclusive, groupId, async () => {
        const result = await groups.updateOne(
          { _id: groupId },
          { $set: { ownerUserId, lastInfoTimeMs: nowMs }, $inc: { infoSeq: 1 } },
        );
        return result.matchedCount === 1;
      }),
    reserveMemberSlots: (groupId, n, max) =>
      guardExclusive(exclusive, groupId, async () => {
        // The limit check and the increment are one conditional update: on MongoDB
        // concurrent joins cannot overshoot it. FerretDB v1 applies it as
        // read-then-write, so the per-group mutex serialises it within a process;
        // across processes on FerretDB the limit may be overshot by a race.
        const filter =
          max > 0 ? { _id: groupId, memberCount: { $lte: max - n } } : { _id: groupId };
        const result = await groups.updateOne(filter, { $inc: { memberCount: n } });
        return result.matchedCount === 1;
      }),
    releaseMemberSlots: (groupId, n) =>
      guardExclusive(exclusive, groupId, async () => {
        if (n === 0) return;
        await groups.updateOne({ _id: groupId }, { $inc: { memberCount: -n } });
      }),
    allocateGroupSeqs: (groupId, n, nowMs) =>
      // Same FerretDB caveat as above; message documents carry a unique (groupId,
      // seq) index, so a seq handed out twice across processes cannot be stored twice.
      guardExclusive(exclusive, groupId, async () => {
        const doc = await groups.findOneAndUpdate(
          { _id: groupId },
          { $inc: { lastSeq: n }, $set: { lastMessageTimeMs: nowMs, active: true } },
          { returnDocument: "after" },
        );
        return doc === null ? undefined : doc.lastSeq;
      }),
    deleteGroup: (groupId) =>
      guard(async () => (await groups.deleteOne({ _id: groupId })).deletedCount === 1),
  };
}

function toDoc(r: GroupRecord): GroupDoc {
  const { groupId, customFields, ...rest } = r;
  return { _id: groupId, ...rest, customFields: fieldsToDoc(customFields) };
}

function toRecord(d: GroupDoc): GroupRecord {
  const { _id, customFields, ...rest } = d;
  return { groupId: _id, ...rest, customFields: fieldsFromDoc(customFields) };
}

// Shared by the Mongo group adapters: custom field values are stored as BSON
// binaries under `customFields.<key>`, so one key can change without rewriting others.

export const fieldsToDoc = (fields: FieldValues): Record<string, Binary> =>
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, new Binary(v)]));

export const fieldsFromDoc = (doc: Record<string, Binary> | undefined): FieldValues =>
  Object.fromEntries(
    Object.entries(doc ?? {}).map(([k, v]) => [
      k,
      new Uint8Array(v.buffer.subarray(0, v.position)),
    ]),
  );

/** $set / $unset parts for field changes under `prefix` (e.g. "customFields"). */
export function fieldChangesToUpdate(
  prefix: string,
  changes: FieldChanges,
): { set: Record<string, Binary>; unset: Record<string, ""> } {
  const set: Record<string, Binary> = {};
  const unset: Record<string, ""> = {};
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) unset[`${prefix}.${key}`] = "";
    else set[`${prefix}.${key}`] = new Binary(value);
  }
  return { set, unset };
}
