import { type AnyBulkWriteOperation, Binary, type Db, type UpdateFilter } from "mongodb";
import type { FieldValue } from "../../profiles/standard-fields.js";
import type { ProfileRecord, ProfileStore } from "../../profiles/store.js";
import { guard } from "./guard.js";

type StoredValue = string | number | Binary;

interface ProfileDoc {
  _id: string;
  fields: Record<string, StoredValue>;
  updatedAtMs: number;
}

export async function createMongoProfileStore(db: Db): Promise<ProfileStore> {
  // _id is the user id; field names are the reference tags ([A-Za-z0-9_], safe as keys).
  // Shard key {_id: "hashed"} (docs/deployment.md, Shard keys).
  const profiles = db.collection<ProfileDoc>("profiles");
  return {
    upsertProfiles: (changes, nowMs) =>
      guard(async () => {
        if (changes.length === 0) return;
        await profiles.bulkWrite(
          changes.map((c): AnyBulkWriteOperation<ProfileDoc> => {
            const $set: Record<string, StoredValue> = { updatedAtMs: nowMs };
            for (const [name, value] of Object.entries(c.set))
              $set[`fields.${name}`] = toStored(value);
            const $unset = Object.fromEntries(c.unset.map((name) => [`fields.${name}`, ""]));
            return {
              updateOne: {
                filter: { _id: c.userId },
                // $set's keys are dotted paths the driver's types cannot check.
                update: (c.unset.length === 0
                  ? { $set }
                  : { $set, $unset }) as UpdateFilter<ProfileDoc>,
                upsert: true,
              },
            };
          }),
          { ordered: true },
        );
      }),
    selectProfiles: (userIds) =>
      guard(async () => {
        const docs = await profiles.find({ _id: { $in: [...userIds] } }).toArray();
        return new Map(docs.map((d) => [d._id, toRecord(d)]));
      }),
  };
}

const toStored = (value: FieldValue): StoredValue =>
  value instanceof Uint8Array ? new Binary(value) : value;

function toRecord(doc: ProfileDoc): ProfileRecord {
  const fields: Record<string, FieldValue> = {};
  for (const [name, value] of Object.entries(doc.fields ?? {})) {
    fields[name] = value instanceof Binary ? new Uint8Array(value.value()) : value;
  }
  return { userId: doc._id, fields, updatedAtMs: doc.updatedAtMs };
}
