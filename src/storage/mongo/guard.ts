import { MongoNetworkError, MongoServerSelectionError, MongoTopologyClosedError } from "mongodb";
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
