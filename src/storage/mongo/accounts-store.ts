import type { Db } from "mongodb";
import type { AccountRecord, AccountStore } from "../../accounts/store.js";
import type { MongoCapabilities } from "./capabilities.js";
import { guard } from "./guard.js";
import { insertEach } from "./outbox-collection.js";

interface AccountDoc {
  _id: string;
  nickname: string;
  faceUrl: string;
  createdAtMs: number;
  sigsInvalidBeforeMs?: number;
}

export async function createMongoAccountStore(
  db: Db,
  capabilities: Pick<MongoCapabilities, "indexedIdIn" | "bulkUpdates">,
): Promise<AccountStore> {
  // _id is the user id: uniqueness and point lookups need no extra index.
  // Shard key {_id: "hashed"} (docs/deployment.md, Shard keys).
  const accounts = db.collection<AccountDoc>("accounts");
  return {
    upsertAccounts: (inputs, nowMs) =>
      guard(async () => {
        if (inputs.length === 0) return { created: [], updated: [] };
        // FerretDB v1 answers an upsert by scanning the collection (an import of
        // 10,000 accounts took minutes); inserts are cheap there, so insert all
        // and update only the ones that exist, one command each.
        if (!capabilities.bulkUpdates) {
          const outcomes = await insertEach(
            accounts,
            inputs.map((a) => ({
              _id: a.userId,
              nickname: a.nickname,
              faceUrl: a.faceUrl,
              createdAtMs: nowMs,
            })),
          );
          const failed = outcomes.find((o) => typeof o === "object");
          if (failed !== undefined) throw failed.error;
          const existing = inputs.filter((_, i) => outcomes[i] === "duplicate");
          await Promise.all(
            existing.map((a) =>
              accounts.updateOne(
                { _id: a.userId },
                { $set: { nickname: a.nickname, faceUrl: a.faceUrl } },
              ),
            ),
          );
          return {
            created: inputs.filter((_, i) => outcomes[i] === "inserted").map((a) => a.userId),
            updated: existing.map((a) => a.userId),
          };
        }
        const result = await accounts.bulkWrite(
          inputs.map((a) => ({
            updateOne: {
              filter: { _id: a.userId },
              update: {
                $set: { nickname: a.nickname, faceUrl: a.faceUrl },
                $setOnInsert: { createdAtMs: nowMs },
              },
              upsert: true,
            },
          })),
          { ordered: true },
        );
        // By _id, not position: FerretDB reports wrong positions in upsertedIds.
        const created = new Set(Object.values(result.upsertedIds).map(String));
        return {
          created: inputs.filter((a) => created.has(a.userId)).map((a) => a.userId),
          updated: inputs.filter((a) => !created.has(a.userId)).map((a) => a.userId),
        };
      }),
    deleteAccounts: (userIds) =>
      guard(async () => {
        const existing = await accounts
          .find({ _id: { $in: [...userIds] } }, { projection: { _id: 1 } })
          .toArray();
        if (existing.length === 0) return [];
        const ids = existing.map((d) => d._id);
        await accounts.deleteMany({ _id: { $in: ids } });
        return userIds.filter((id) => ids.includes(id));
      }),
    selectExistingUserIds: (userIds) =>
      guard(async () => {
        const ids = [...new Set(userIds)];
        // One round trip where $in on _id uses the index (MongoDB); FerretDB v1
        // serves only an exact _id filter from an index ($in scans), so there
        // point lookups, one per id (the send path asks about two).
        const found = capabilities.indexedIdIn
          ? await accounts.find({ _id: { $in: ids } }, { projection: { _id: 1 } }).toArray()
          : await Promise.all(
              ids.map((id) => accounts.findOne({ _id: id }, { projection: { _id: 1 } })),
            );
        return new Set(found.flatMap((d) => (d === null ? [] : [d._id])));
      }),
    selectAccount: (userId) =>
      guard(async () => {
        const doc = await accounts.findOne({ _id: userId });
        return doc === null ? undefined : toRecord(doc);
      }),
    updateSigsInvalidBefore: (userId, atMs) =>
      guard(async () => {
        const result = await accounts.updateOne(
          { _id: userId },
          { $set: { sigsInvalidBeforeMs: atMs } },
        );
        return result.matchedCount === 1;
      }),
  };
}

function toRecord(doc: AccountDoc): AccountRecord {
  const { _id, sigsInvalidBeforeMs, ...rest } = doc;
  return {
    userId: _id,
    ...rest,
    ...(sigsInvalidBeforeMs === undefined ? {} : { sigsInvalidBeforeMs }),
  };
}
