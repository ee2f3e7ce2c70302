import {
  type Collection,
  type CollectionOptions,
  type Db,
  type Document,
  MongoBulkWriteError,
  MongoServerError,
} from "mongodb";

/**
 * FerretDB's SQLite backend can answer a write with SQLITE_BUSY when another
 * connection holds the database (MongoDB never does). A single command so
 * refused was rolled back whole and may run again; a bulk write may have
 * applied part of its operations, so it is not retried (nor is a whole store
 * operation: its earlier commands already applied). The test services run
 * FerretDB with `_txlock=immediate`, where writers wait instead.
 */
const isBusy = (err: unknown): boolean =>
  err instanceof MongoServerError &&
  !(err instanceof MongoBulkWriteError) &&
  /SQLITE_BUSY|database is locked/.test(err.message);

/** Tries of a command that found the SQLite database locked, with backoff between. */
const BUSY_TRIES = 5;
const BUSY_BACKOFF_MS = 10;

/** Promise-returning collection commands (cursors are not retried). */
const COMMANDS = new Set([
  "insertOne",
  "updateOne",
  "updateMany",
  "replaceOne",
  "deleteOne",
  "deleteMany",
  "findOneAndUpdate",
  "findOneAndDelete",
  "findOneAndReplace",
  "findOne",
  "countDocuments",
  "distinct",
  "createIndex",
  "createIndexes",
  "drop",
]);

export async function retryBusy<T>(command: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await command();
    } catch (err) {
      if (!isBusy(err) || attempt >= BUSY_TRIES) throw err;
      await new Promise((r) => setTimeout(r, BUSY_BACKOFF_MS * 2 ** attempt * Math.random()));
    }
  }
}

/** `db`, whose collections run each single command again when it was refused as busy. */
export function retryingBusyCommands(db: Db): Db {
  const collection = db.collection.bind(db);
  db.collection = (<T extends Document>(name: string, options?: CollectionOptions) =>
    retrying(collection<T>(name, options))) as Db["collection"];
  return db;
}

function retrying<T extends Document>(c: Collection<T>): Collection<T> {
  return new Proxy(c, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== "string" || !COMMANDS.has(prop) || typeof value !== "function") {
        return value;
      }
      return (...args: unknown[]) =>
        retryBusy(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
}
