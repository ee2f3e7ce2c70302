import { type Db, MongoServerError } from "mongodb";

interface OutboxDoc {
  _id: string;
  timeMs: number;
}

const isDuplicateKey = (err: unknown) => err instanceof MongoServerError && err.code === 11000;

/**
 * The transactional outbox of a message collection: one entry per stored
 * message not yet known to be on the bus. Only pending entries live here, so
 * recovery reads a small collection, and every hot-path write filters on _id
 * alone (the one filter FerretDB v1 serves from an index).
 */
export async function createOutboxCollection(db: Db, name: string) {
  const outbox = db.collection<OutboxDoc>(name);
  await outbox.createIndex({ timeMs: 1 });
  return {
    /**
     * Records the entry, then runs `insertMessage`. The entry goes first: a crash
     * between the two leaves an entry without a message (dropped by `pending`),
     * never a message nobody will publish. Returns false, having written
     * nothing, when the key is taken (by the entry or by the message).
     */
    async insertWith(
      key: string,
      timeMs: number,
      insertMessage: () => Promise<boolean>,
    ): Promise<boolean> {
      try {
        await outbox.insertOne({ _id: key, timeMs });
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
      if (await insertMessage()) return true;
      await outbox.deleteOne({ _id: key });
      return false;
    },
    /** Clears the entries of published messages; unknown keys are ignored. */
    async remove(keys: readonly string[]): Promise<void> {
      if (keys.length > 0) await outbox.deleteMany({ _id: { $in: [...keys] } });
    },
    async has(key: string): Promise<boolean> {
      return (await outbox.findOne({ _id: key })) !== null;
    },
    /**
     * Pending messages older than `beforeMs`, oldest first, loaded by key.
     * Entries whose message was never stored (nothing was acked) are dropped.
     */
    async pending<T>(
      beforeMs: number,
      limit: number,
      load: (key: string) => Promise<T | undefined>,
    ): Promise<T[]> {
      const entries = await outbox
        .find({ timeMs: { $lt: beforeMs } })
        .sort({ timeMs: 1 })
        .limit(limit)
        .toArray();
      const found: T[] = [];
      for (const entry of entries) {
        const message = await load(entry._id);
        if (message === undefined) await outbox.deleteOne({ _id: entry._id });
        else found.push(message);
      }
      return found;
    },
  };
}
