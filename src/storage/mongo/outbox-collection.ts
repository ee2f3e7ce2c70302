import type { JsonValue } from "@bufbuild/protobuf";
import type { Collection, Db, Filter, OptionalUnlessRequiredId } from "mongodb";
import {
  type AppendResult,
  type EditOutcome,
  editKeyOf,
  keysSettledBy,
  parseOutboxKey,
  type RecallOutcome,
  recallKeyOf,
} from "../../conversations/store.js";
import { bulkWriteErrorsOf, isDuplicateKey, isDuplicateWriteError } from "./guard.js";
import type { KeyedMutex } from "./keyed-mutex.js";

/** What became of one document of `insertMany`. */
export type InsertOutcome = "inserted" | "duplicate" | { error: unknown };

/** A message insert's outcome as the message port reports it: a duplicate key is a taken seq. */
export const appendResultOf = (o: InsertOutcome): AppendResult =>
  o === "inserted"
    ? { kind: "stored" }
    : o === "duplicate"
      ? { kind: "seq-taken" }
      : { kind: "failed", error: o.error };

/**
 * One unordered insertMany: every document is attempted; per-document write
 * errors come back per index instead of failing the batch. Throws only when
 * the command as a whole failed (e.g. the store is unreachable).
 */
export async function insertEach<T extends { _id: string }>(
  collection: Collection<T>,
  docs: readonly T[],
): Promise<InsertOutcome[]> {
  const outcomes: InsertOutcome[] = docs.map(() => "inserted");
  if (docs.length === 0) return outcomes;
  try {
    await collection.insertMany(docs as OptionalUnlessRequiredId<T>[], { ordered: false });
  } catch (err) {
    for (const e of bulkWriteErrorsOf(err)) {
      outcomes[e.index] = isDuplicateWriteError(e) ? "duplicate" : { error: e };
    }
  }
  return outcomes;
}

/** What a recall or an edit needs of the message it stores. */
interface VersionedMessage {
  messageKey: string;
  recall?: { recalledAtMs: bigint };
  edit?: { version: number; editedAtMs: bigint };
}

interface OutboxDoc {
  /** The message key, or its recall's or an edit's key (`outboxKeyOf`). */
  _id: string;
  timeMs: number;
}

/**
 * A message collection with its transactional outbox: one entry per stored
 * message not yet known to be on the bus. Only pending entries live in the
 * outbox, so recovery reads a small collection. Every write and read of one
 * message filters on `pointOf(messageKey)`: its _id, plus on MongoDB the
 * collection's shard key (conversation or group, and seq), so a sharded
 * cluster sends it to one shard; on FerretDB v1 _id alone, the one filter it
 * serves from an index.
 */
export async function createOutboxCollection<
  D extends {
    _id: string;
    timeMs: number;
    message: JsonValue;
    recalled?: boolean;
    editVersion?: number;
  },
>(
  db: Db,
  name: string,
  messages: Collection<D>,
  /** Serialises a recall and an edit of one message where updates are not atomic (FerretDB). */
  exclusive: KeyedMutex,
  /** The filter of one message by its key (`createShardKeyFilter`). */
  pointOf: (messageKey: string) => Filter<D>,
) {
  const outbox = db.collection<OutboxDoc>(name);
  await outbox.createIndex({ timeMs: 1 });

  const insertMessage = async (doc: D): Promise<boolean> => {
    try {
      await messages.insertOne(doc as OptionalUnlessRequiredId<D>);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  };

  return {
    /**
     * Inserts the message, with an outbox entry when it still needs publishing.
     * The entry goes first: a crash between the two leaves an entry without a
     * message (dropped by `pending`), never a message nobody will publish.
     * Returns false, having written nothing, when the _id is taken.
     */
    async insert(doc: D, unpublished: boolean): Promise<boolean> {
      if (!unpublished) return insertMessage(doc);
      try {
        await outbox.insertOne({ _id: doc._id, timeMs: doc.timeMs });
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
      if (await insertMessage(doc)) return true;
      await outbox.deleteOne({ _id: doc._id });
      return false;
    },
    /**
     * `insert` for a batch in three round trips at most: outbox entries (of
     * the unpublished), then messages, then the removal of entries whose
     * message was a duplicate, each one unordered bulk command. Entries still
     * go before their messages (a crash leaves an entry without a message).
     */
    async insertMany(items: readonly { doc: D; unpublished: boolean }[]): Promise<InsertOutcome[]> {
      const outcomes: InsertOutcome[] = items.map(() => "inserted");
      const marked = items.flatMap((it, i) => (it.unpublished ? [i] : []));
      const entryOutcomes = await insertEach(
        outbox,
        marked.map((i) => {
          const { doc } = items[i] as { doc: D };
          return { _id: doc._id, timeMs: doc.timeMs };
        }),
      );
      marked.forEach((i, j) => {
        outcomes[i] = entryOutcomes[j] as InsertOutcome;
      });
      const toInsert = items.flatMap((_, i) => (outcomes[i] === "inserted" ? [i] : []));
      const docOutcomes = await insertEach(
        messages,
        toInsert.map((i) => (items[i] as { doc: D }).doc),
      );
      const orphaned: string[] = [];
      toInsert.forEach((i, j) => {
        const outcome = docOutcomes[j] as InsertOutcome;
        outcomes[i] = outcome;
        const item = items[i] as { doc: D; unpublished: boolean };
        if (outcome !== "inserted" && item.unpublished) orphaned.push(item.doc._id);
      });
      // A duplicate's entry was ours (its _id is the message key, just inserted):
      // remove it so recovery does not republish the other node's message.
      if (orphaned.length > 0) await outbox.deleteMany({ _id: { $in: orphaned } });
      return outcomes;
    },
    /** Clears the entries of published keys and those each settles (`keysSettledBy`). */
    async remove(keys: readonly string[]): Promise<void> {
      const ids = new Set(keys.flatMap(keysSettledBy));
      if (ids.size > 0) await outbox.deleteMany({ _id: { $in: [...ids] } });
    },
    /**
     * Replaces a message with its tombstone (`stored`: the tombstone as the
     * document holds it) unless already recalled. The recall's entry goes
     * first, as an insert's does: a crash between the two leaves an entry
     * whose message is not recalled, which `pending` drops. The entries of
     * the message's edits up to `editVersion` go: a recalled message's edits
     * are never published.
     */
    async recall(tombstone: VersionedMessage, stored: JsonValue): Promise<RecallOutcome> {
      const id = tombstone.messageKey;
      const recalledAtMs = Number(tombstone.recall?.recalledAtMs ?? 0);
      const editVersion = tombstone.edit?.version ?? 0;
      const update = { recalled: true, message: stored } as Partial<D>;
      try {
        await outbox.insertOne({ _id: recallKeyOf(id), timeMs: recalledAtMs });
      } catch (err) {
        // A racing recall's entry: the update below decides which one recalled.
        if (!isDuplicateKey(err)) throw err;
      }
      const filter = { ...pointOf(id), recalled: { $ne: true } } as Filter<D>;
      const result = await exclusive(id, () => messages.updateOne(filter, { $set: update }));
      if (result.matchedCount === 1) {
        if (editVersion > 0) {
          // Every "<id>#edit<digits>" entry, as one range: an app admin's edits are unbounded.
          const edits = editKeyOf(id, 0).slice(0, -1);
          await outbox.deleteMany({ _id: { $gt: edits, $lt: `${edits}:` } });
        }
        return "recalled";
      }
      if ((await messages.findOne(pointOf(id))) !== null) return "already-recalled";
      await outbox.deleteOne({ _id: recallKeyOf(id) });
      return "not-found";
    },
    /**
     * Replaces a message with its edited version (`stored`: as the document
     * holds it) if it is not recalled and stands at the version before. The
     * edit's entry goes first (a crash leaves an entry `pending` drops).
     */
    async edit(edited: VersionedMessage, stored: JsonValue): Promise<EditOutcome> {
      const id = edited.messageKey;
      const version = edited.edit?.version ?? 0;
      const editedAtMs = Number(edited.edit?.editedAtMs ?? 0);
      const update = { editVersion: version, message: stored } as Partial<D>;
      const entry = editKeyOf(id, version);
      try {
        await outbox.insertOne({ _id: entry, timeMs: editedAtMs });
      } catch (err) {
        // A racing edit to the same version: the update below decides.
        if (!isDuplicateKey(err)) throw err;
      }
      const atVersion = version === 1 ? { $exists: false } : version - 1;
      const filter = {
        ...pointOf(id),
        recalled: { $ne: true },
        editVersion: atVersion,
      } as Filter<D>;
      const result = await exclusive(id, () => messages.updateOne(filter, { $set: update }));
      if (result.matchedCount === 1) return "edited";
      const doc = (await messages.findOne(pointOf(id))) as D | null;
      // Not ours to keep: the entry of a lost race is the winner's only if it stored this version.
      if (doc === null || doc.recalled === true || (doc.editVersion ?? 0) < version) {
        await outbox.deleteOne({ _id: entry });
      }
      if (doc === null) return "not-found";
      return doc.recalled === true ? "recalled" : "stale";
    },
    async has(key: string): Promise<boolean> {
      return (await outbox.findOne({ _id: key })) !== null;
    },
    /** Entries with time before `beforeMs` (served by the timeMs index). */
    count: (beforeMs: number): Promise<number> =>
      outbox.countDocuments({ timeMs: { $lt: beforeMs } }),
    /**
     * Messages still pending with time before `beforeMs`, oldest first, each
     * once. Entries whose message was never stored (nothing was acked), recall
     * entries whose message was never recalled, and edit entries whose edit
     * was never stored or whose message was recalled, are dropped.
     */
    async pending(beforeMs: number, limit: number): Promise<D[]> {
      const entries = await outbox
        .find({ timeMs: { $lt: beforeMs } })
        .sort({ timeMs: 1 })
        .limit(limit)
        .toArray();
      const found: D[] = [];
      for (const entry of entries) {
        const key = parseOutboxKey(entry._id);
        const doc = (await messages.findOne(pointOf(key.messageKey))) as D | null;
        const orphan =
          doc === null ||
          (key.stage === "recall" && doc.recalled !== true) ||
          (key.stage === "edit" && (doc.recalled === true || (doc.editVersion ?? 0) < key.version));
        if (orphan) await outbox.deleteOne({ _id: entry._id });
        else if (!found.some((d) => d._id === doc._id)) found.push(doc);
      }
      return found;
    },
  };
}
