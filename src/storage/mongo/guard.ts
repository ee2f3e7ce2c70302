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
 * Runs a store operation, turning "cannot reach MongoDB" into the domain's
 * STORAGE_UNAVAILABLE so callers answer Unavailable instead of Internal.
 * (FerretDB's busy refusals are retried per command, in busy-retry.ts: a whole
 * operation run again would repeat the writes that had already applied.)
 */
export async function guard<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw isUnreachable(err) ? storageUnavailable(err) : err;
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
