import type { Db } from "mongodb";
import type { JoinApplicationRecord, JoinApplicationStore } from "../../groups/store.js";
import type { MongoCapabilities } from "./capabilities.js";
import { guard } from "./guard.js";
import { createKeyedMutex, guardExclusive } from "./keyed-mutex.js";

type ApplicationDoc = JoinApplicationRecord;

export async function createMongoJoinApplicationStore(
  db: Db,
  capabilities: MongoCapabilities,
): Promise<JoinApplicationStore> {
  // Shard key {groupId: 1, applicantUserId: 1} (docs/deployment.md, Shard keys).
  const applications = db.collection<ApplicationDoc>("group_join_applications");
  await Promise.all([
    applications.createIndex({ groupId: 1, applicantUserId: 1 }, { unique: true }),
    applications.createIndex({ applicantUserId: 1 }),
    applications.createIndex({ groupId: 1, appliedAtMs: -1 }),
  ]);
  const project = { projection: { _id: 0 } } as const;
  const exclusive = createKeyedMutex(capabilities);
  return {
    upsertJoinApplication: (a) =>
      guard(async () => {
        const result = await applications.updateOne(
          { groupId: a.groupId, applicantUserId: a.applicantUserId },
          { $set: { message: a.message, appliedAtMs: a.appliedAtMs } },
          { upsert: true },
        );
        return result.upsertedCount === 1 ? "created" : "renewed";
      }),
    countJoinApplicationsOf: (applicantUserId) =>
      guard(() => applications.countDocuments({ applicantUserId })),
    takeJoinApplication: (groupId, applicantUserId) =>
      // Whoever's deleteOne removes the document owns it: of two concurrent handlers
      // only one sees deletedCount 1. (FerretDB v1's findOneAndDelete is
      // read-then-delete and hands the document to both.)
      guardExclusive(exclusive, `${groupId}\u0000${applicantUserId}`, async () => {
        const doc = await applications.findOne({ groupId, applicantUserId });
        if (doc === null) return undefined;
        const { _id, ...record } = doc;
        const { deletedCount } = await applications.deleteOne({ _id });
        return deletedCount === 1 ? record : undefined;
      }),
    selectJoinApplications: (groupIds, limit) =>
      guard(async () => {
        if (groupIds.length === 0) return [];
        return applications
          .find({ groupId: { $in: [...new Set(groupIds)] } }, project)
          .sort({ appliedAtMs: -1, groupId: 1, applicantUserId: 1 })
          .limit(limit)
          .toArray();
      }),
    deleteGroupJoinApplications: (groupId) =>
      guard(async () => {
        await applications.deleteMany({ groupId });
      }),
  };
}
