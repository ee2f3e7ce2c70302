/**
 * Serialises async work per key within this process. FerretDB v1 runs
 * findAndModify as read-then-write, so concurrent `$inc`s on one document can
 * return the same value; queuing them per key makes that impossible within a
 * process, and unique indexes catch it across processes.
 */
export function createKeyedMutex() {
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
