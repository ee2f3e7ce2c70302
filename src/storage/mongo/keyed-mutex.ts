import type { MongoCapabilities } from "./capabilities.js";
import { guard } from "./guard.js";

/**
 * Serialises async work per key within this process, on a server whose
 * single-document updates are not atomic (FerretDB v1 applies an update as
 * read-then-write outside a transaction, so two concurrent updates of one
 * document can lose one: two `$inc`s return the same value; a conditional
 * update can overwrite a newer one). Queuing read-modify-writes of one
 * document per key closes the gap within a process; across processes on
 * FerretDB, unique indexes catch repeated seqs and the remaining races are
 * documented in README. On MongoDB, whose updates are atomic, it runs the work
 * at once: no queue, no per-process serialisation.
 */
export function createKeyedMutex(capabilities: Pick<MongoCapabilities, "atomicUpdates">) {
  if (capabilities.atomicUpdates) {
    return function runAtOnce<T>(_key: string, work: () => Promise<T>): Promise<T> {
      return work();
    };
  }
  const tails = new Map<string, Promise<unknown>>();
  return function runExclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => {});
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return result;
  };
}

export type KeyedMutex = ReturnType<typeof createKeyedMutex>;

/** `guard` around work serialised on `key`. */
export const guardExclusive = <T>(mutex: KeyedMutex, key: string, work: () => Promise<T>) =>
  guard(() => mutex(key, work));
