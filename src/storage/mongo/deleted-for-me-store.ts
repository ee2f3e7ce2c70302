import type { Db } from "mongodb";
import {
  type DeletedForMeRecord,
  type DeletedForMeStore,
  normalizeDeletedForMe,
} from "../../conversations/deleted-for-me-store.js";
import type { MongoCapabilities } from "./capabilities.js";
import { guard } from "./guard.js";
import { createShardKeyFilter } from "./shard-keys.js";

interface DeletedForMeDoc {
  /** "<owner>\n<conversation id>": an exact _id lookup is the one FerretDB serves from an index. */
  _id: string;
  ownerUserId: string;
  conversationId: string;
  clearedUpToSeq: number;
  deletedSeqs: number[];
}

const idOf = (owner: string, conversationId: string) => `${owner}\n${conversationId}`;
// Fields may be missing: FerretDB's upsert leaves out an empty array of $setOnInsert.
const recordOf = (d: Partial<DeletedForMeDoc>): DeletedForMeRecord =>
  normalizeDeletedForMe({
    ownerUserId: d.ownerUserId ?? "",
    conversationId: d.conversationId ?? "",
    clearedUpToSeq: d.clearedUpToSeq ?? 0,
    deletedSeqs: d.deletedSeqs ?? [],
  });

export async function createMongoDeletedForMeStore(
  db: Db,
  capabilities: Pick<MongoCapabilities, "indexedIdWithFields">,
): Promise<DeletedForMeStore> {
  // Shard key {ownerUserId: 1, conversationId: 1} (docs/deployment.md, Shard keys).
  const marks = db.collection<DeletedForMeDoc>("deleted_for_me");
  const byKey = createShardKeyFilter(capabilities);
  const markOf = (owner: string, conversationId: string) =>
    byKey<DeletedForMeDoc>(idOf(owner, conversationId), { ownerUserId: owner, conversationId });
  await guard(() => marks.createIndex({ conversationId: 1 }));
  const select = async (owner: string, conversationId: string) => {
    const d = await marks.findOne(markOf(owner, conversationId));
    return d === null ? undefined : recordOf(d);
  };
  const empty = (owner: string, conversationId: string): DeletedForMeRecord => ({
    ownerUserId: owner,
    conversationId,
    clearedUpToSeq: 0,
    deletedSeqs: [],
  });
  return {
    selectDeletedForMe: (owner, conversationId) => guard(() => select(owner, conversationId)),
    selectDeletedForMeMany: (owner, conversationIds) =>
      guard(async () => {
        const found = new Map<string, DeletedForMeRecord>();
        if (conversationIds.length === 0) return found;
        const docs = await marks
          .find(
            byKey<DeletedForMeDoc>(
              { $in: conversationIds.map((c) => idOf(owner, c)) },
              { ownerUserId: owner },
            ),
          )
          .toArray();
        for (const d of docs) found.set(d.conversationId, recordOf(d));
        return found;
      }),
    addDeletedSeqs: (owner, conversationId, seqs, maxSeqs) =>
      guard(async () => {
        const before = (await select(owner, conversationId)) ?? empty(owner, conversationId);
        const after = normalizeDeletedForMe({
          ...before,
          deletedSeqs: [...before.deletedSeqs, ...seqs],
        });
        if (after.deletedSeqs.length > maxSeqs) return "full";
        const added = after.deletedSeqs.filter((s) => !before.deletedSeqs.includes(s));
        if (added.length === 0) return after;
        // $addToSet: a racing add of other seqs is kept, not overwritten.
        const doc = await marks.findOneAndUpdate(
          markOf(owner, conversationId),
          {
            $addToSet: { deletedSeqs: { $each: added } },
            $setOnInsert: { ownerUserId: owner, conversationId, clearedUpToSeq: 0 },
          },
          { upsert: true, returnDocument: "after" },
        );
        return doc === null ? after : recordOf(doc);
      }),
    clearDeletedForMe: (owner, conversationId, upToSeq) =>
      guard(async () => {
        const doc = await marks.findOneAndUpdate(
          markOf(owner, conversationId),
          {
            $max: { clearedUpToSeq: upToSeq },
            $setOnInsert: { ownerUserId: owner, conversationId, deletedSeqs: [] },
          },
          { upsert: true, returnDocument: "after" },
        );
        if (doc === null) return { ...empty(owner, conversationId), clearedUpToSeq: upToSeq };
        const cleared = doc.clearedUpToSeq ?? upToSeq;
        const covered = (doc.deletedSeqs ?? []).filter((s) => s <= cleared);
        // Seqs the clear now covers no longer count toward the cap.
        if (covered.length > 0)
          await marks.updateOne(markOf(owner, conversationId), {
            $pullAll: { deletedSeqs: covered },
          });
        return recordOf(doc);
      }),
    deleteDeletedForMe: (conversationId) =>
      guard(async () => {
        await marks.deleteMany({ conversationId });
      }),
  };
}
