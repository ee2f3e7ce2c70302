import {
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from "mongodb";
import { storageUnavailable } from "../../errors/domain-error.js";

/** True for driver errors meaning "the store cannot be reached", as opposed to a bad operation. */
export const isUnreachable = (err: unknown): boolean =>
  err instanceof MongoNetworkError ||
  err instanceof MongoServerSelectionError ||
  err instanceof MongoTopologyClosedError;

/**
 * Runs a store operation, turning "cannot reach MongoDB" into the domain's
 * STORAGE_UNAVAILABLE so callers answer Unavailable instead of Internal.
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
export const isDuplicateKey = (err: unknown): boolean =>
  err instanceof MongoServerError &&
  (err.code === DUPLICATE_KEY || err.message.includes("UNIQUE constraint failed"));
