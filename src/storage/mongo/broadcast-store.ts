import { randomUUID } from "node:crypto";
import {
  Binary,
  type Collection,
  type Db,
  type Filter,
  type OptionalUnlessRequiredId,
} from "mongodb";
import type {
  BroadcastCounts,
  BroadcastState,
  BroadcastStore,
  BroadcastTaskRecord,
} from "../../push/broadcast-store.js";
import type { AudienceFilter } from "../../push/labels.js";
import { bulkWriteErrorsOf, guard, isDuplicateKey, isDuplicateWriteError } from "./guard.js";

interface LabelsDoc {
  /** The user id. */
  _id: string;
  tags: string[];
  attrs: Record<string, string>;
  version: number;
  /** The bulk insert that stored it (to tell its own inserts from concurrent ones). */
  by?: string;
}

interface TaskDoc {
  _id: string;
  filter: AudienceFilter;
  content: Binary;
  state: BroadcastState;
  cursor: string;
  counts: BroadcastCounts;
  createdAtMs: number;
  finishedAtMs: number;
}

const INSERT_CHUNK = 100;

interface ClaimDoc {
  _id: string;
  /** Which claim call wrote it, to tell its own inserts from earlier ones. */
  by?: string;
  atMs: number;
}

function labelsFilter(filter: AudienceFilter): Filter<LabelsDoc> {
  switch (filter.kind) {
    case "all":
      return {};
    case "tags":
      return { tags: filter.matchAll ? { $all: [...filter.tags] } : { $in: [...filter.tags] } };
    case "attributes":
      return Object.fromEntries(
        Object.entries(filter.attributes).map(([k, v]) => [`attrs.${k}`, v]),
      );
  }
}

const toTask = (d: TaskDoc): BroadcastTaskRecord => ({
  taskId: d._id,
  filter: d.filter,
  content: new Uint8Array(d.content.value()),
  state: d.state,
  cursor: d.cursor,
  counts: { ...d.counts },
  createdAtMs: d.createdAtMs,
  finishedAtMs: d.finishedAtMs,
});

/**
 * Inserts documents whose _id is not taken yet and returns the _ids this call
 * stored (taken ones are left out), in unordered bulk writes of at most 100: a
 * larger one holds FerretDB's single SQLite writer long enough to starve other
 * clients (monitor timeouts under load). After a duplicate, which documents
 * are this call's is read back by `by` (the driver's error positions are not
 * trusted on FerretDB).
 */
async function insertOwn<D extends { _id: string; by?: string }>(
  collection: Collection<D>,
  docs: readonly Omit<D, "by">[],
): Promise<Set<string>> {
  const stored = new Set<string>();
  for (let i = 0; i < docs.length; i += INSERT_CHUNK) {
    const chunk = docs.slice(i, i + INSERT_CHUNK);
    const by = randomUUID();
    try {
      await collection.insertMany(
        chunk.map((d) => ({ ...d, by }) as OptionalUnlessRequiredId<D>),
        { ordered: false },
      );
      for (const d of chunk) stored.add(d._id);
      continue;
    } catch (err) {
      if (!bulkWriteErrorsOf(err).every(isDuplicateWriteError)) throw err;
    }
    const mine = await collection
      .find({ _id: { $in: chunk.map((d) => d._id) }, by } as Filter<D>, { projection: { _id: 1 } })
      .toArray();
    for (const d of mine) stored.add(d._id);
  }
  return stored;
}

export async function createMongoBroadcastStore(db: Db): Promise<BroadcastStore> {
  const labels = db.collection<LabelsDoc>("user_labels");
  const accounts = db.collection<{ _id: string }>("accounts");
  const tasks = db.collection<TaskDoc>("push_broadcasts");
  // One document per task and device (or user, for live events); _id is the key.
  const claims = db.collection<ClaimDoc>("push_claims");
  await guard(() => labels.createIndex({ tags: 1 }));
  await guard(() => claims.createIndex({ atMs: 1 }));
  return {
    selectUserLabels: (userIds) =>
      guard(async () => {
        const docs =
          userIds.length === 1
            ? await labels.find({ _id: userIds[0] ?? "" }).toArray()
            : await labels.find({ _id: { $in: [...userIds] } }).toArray();
        return new Map(
          docs.map((d) => [d._id, { tags: d.tags, attributes: d.attrs, version: d.version }]),
        );
      }),
    replaceUserLabels: (userId, version, next) =>
      guard(async () => {
        const doc = { tags: next.tags, attrs: next.attributes, version: version + 1 };
        if (version === 0) {
          try {
            await labels.insertOne({ _id: userId, ...doc });
            return true;
          } catch (err) {
            if (isDuplicateKey(err)) return false;
            throw err;
          }
        }
        const r = await labels.updateOne({ _id: userId, version }, { $set: doc });
        return r.modifiedCount === 1;
      }),
    insertUserLabels: (entries) =>
      guard(() =>
        insertOwn(
          labels,
          entries.map((e) => ({
            _id: e.userId,
            tags: e.labels.tags,
            attrs: e.labels.attributes,
            version: 1,
          })),
        ),
      ),
    selectAudiencePage: (filter, afterUserId, limit) =>
      guard(async () => {
        const source = filter.kind === "all" ? accounts : labels;
        const docs = await source
          .find({ ...labelsFilter(filter), _id: { $gt: afterUserId } } as Filter<{ _id: string }>, {
            projection: { _id: 1 },
          })
          .sort({ _id: 1 })
          .limit(limit)
          .toArray();
        return docs.map((d) => d._id);
      }),
    insertBroadcast: (task) =>
      guard(async () => {
        await tasks.insertOne({
          _id: task.taskId,
          filter: task.filter,
          content: new Binary(task.content),
          state: "running",
          cursor: "",
          counts: { targeted: 0, onlineDelivered: 0, pushed: 0, failed: 0 },
          createdAtMs: task.createdAtMs,
          finishedAtMs: 0,
        });
      }),
    selectBroadcast: (taskId) =>
      guard(async () => {
        const d = await tasks.findOne({ _id: taskId });
        return d === null ? undefined : toTask(d);
      }),
    advanceBroadcast: (taskId, from, to, add, finishedAtMs) =>
      guard(async () => {
        const r = await tasks.updateOne(
          { _id: taskId, state: "running", cursor: from },
          {
            $set: {
              cursor: to,
              ...(finishedAtMs === undefined ? {} : { state: "done", finishedAtMs }),
            },
            $inc: {
              "counts.targeted": add.targeted,
              "counts.onlineDelivered": add.onlineDelivered,
            },
          },
        );
        return r.modifiedCount === 1;
      }),
    addBroadcastPushCounts: (taskId, add) =>
      guard(async () => {
        if (add.pushed === 0 && add.failed === 0) return;
        await tasks.updateOne(
          { _id: taskId },
          { $inc: { "counts.pushed": add.pushed, "counts.failed": add.failed } },
        );
      }),
    cancelBroadcast: (taskId, nowMs) =>
      guard(async () => {
        await tasks.updateOne(
          { _id: taskId, state: "running" },
          { $set: { state: "cancelled", finishedAtMs: nowMs } },
        );
        const d = await tasks.findOne({ _id: taskId });
        return d === null ? undefined : toTask(d);
      }),
    claimDeliveries: (keys, nowMs) =>
      guard(() =>
        insertOwn(
          claims,
          keys.map((_id) => ({ _id, atMs: nowMs })),
        ),
      ),
    deleteClaimsBefore: (beforeMs) =>
      guard(async () => {
        await claims.deleteMany({ atMs: { $lt: beforeMs } });
      }),
  };
}
