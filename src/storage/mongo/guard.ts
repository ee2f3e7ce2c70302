import {
  MongoBulkWriteError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type WriteError,
} from "mongodb";
import { storageUnavailable } from "../../errors/domain-error.js";

/** True for driver errors meaning "the store cannot be reached", as opposed to a bad operation. */
export const isUnreachable = (err: unknown): boolean =>
  err instanceof MongoNetworkError ||
  err instanceof MongoServerSelectionError ||
  err instanceof MongoTopologyClosedError ||
  // A bulk write (insertMany, bulkWrite) that could not reach the server wraps
  // the driver's error, which it keeps as `errorResponse`.
  (err instanceof MongoBulkWriteError &&
    err.errorResponse !== (err as unknown) &&
    isUnreachable(err.errorResponse as unknown));

/**
 * FerretDB's SQLite backend answers a write that found the database locked by
 * another connection with SQLITE_BUSY instead of waiting for it; the operation
 * was rolled back, so it may run again. (MongoDB never says this.)
 */
const isBusy = (err: unknown): boolean =>
  err instanceof MongoServerError && /SQLITE_BUSY|database is locked/.test(err.message);
/** Tries of an operation that found the SQLite database locked, with backoff between. */
const BUSY_TRIES = 5;
const BUSY_BACKOFF_MS = 10;

/**
 * Runs a store operation, turning "cannot reach MongoDB" into the domain's
 * STORAGE_UNAVAILABLE so callers answer Unavailable instead of Internal, and
 * running again what FerretDB refused for a locked database.
 */
export async function guard<T>(op: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (isBusy(err) && attempt < BUSY_TRIES) {
        await new Promise((r) => setTimeout(r, BUSY_BACKOFF_MS * 2 ** attempt * Math.random()));
        continue;
      }
      throw isUnreachable(err) ? storageUnavailable(err) : err;
    }
  }
}

/** MongoDB's duplicate-key error code (a unique index rejected the write). */
export const DUPLICATE_KEY = 11000;

/** A unique index rejected the write. FerretDB v1 reports this on update as a raw SQLite error. */
const isDuplicate = (code: unknown, message: string): boolean =>
  code === DUPLICATE_KEY || message.includes("UNIQUE constraint failed");

/** `isDuplicate` of a whole command's error. */
export const isDuplicateKey = (err: unknown): boolean =>
  err instanceof MongoServerError && isDuplicate(err.code, err.message);

/**
 * The per-operation errors of an unordered bulk command; rethrows anything
 * else (the command as a whole failed, e.g. the store is unreachable).
 */
export function bulkWriteErrorsOf(err: unknown): WriteError[] {
  if (!(err instanceof MongoBulkWriteError) || isUnreachable(err)) throw err;
  const failed = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  if (failed.length === 0) throw err;
  return failed;
}

/** One operation of a bulk command hit a unique index. */
export const isDuplicateWriteError = (e: WriteError): boolean =>
  isDuplicate(e.code, String(e.errmsg ?? ""));
