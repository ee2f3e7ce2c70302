/**
 * Group commit (docs/architecture.md, "Batched writes"): callers that arrive
 * while a write is in flight join the next batch, written as soon as the
 * previous one settles. No timer: an idle node writes a lone item at once; a
 * busy one writes up to `maxBatch` items per round trip.
 */
export interface GroupCommit<I, O> {
  /** Joins the open batch; resolves with this item's own result. */
  submit(item: I): Promise<O>;
  /** Waits until every submitted item has been written. */
  drain(): Promise<void>;
}

export interface GroupCommitOptions<I, O> {
  /** Most items per write. */
  maxBatch: number;
  /**
   * Writes one batch; returns one result per item, in order. A throw fails
   * every item of this batch alone (later batches still run).
   */
  write(items: readonly I[]): Promise<readonly O[]>;
  /** Items to leave out just before the write (e.g. the caller stopped waiting); they get `reason`. */
  drop?(item: I): unknown;
}

interface Pending<I, O> {
  item: I;
  resolve(result: O): void;
  reject(err: unknown): void;
}

export function createGroupCommit<I, O>(options: GroupCommitOptions<I, O>): GroupCommit<I, O> {
  const { maxBatch } = options;
  if (!(maxBatch >= 1)) throw new Error(`maxBatch must be at least 1, got ${maxBatch}`);
  let queue: Pending<I, O>[] = [];
  let writing: Promise<void> | undefined;

  const writeBatch = async (batch: Pending<I, O>[]): Promise<void> => {
    const kept: Pending<I, O>[] = [];
    for (const p of batch) {
      const reason = options.drop?.(p.item);
      if (reason === undefined) kept.push(p);
      else p.reject(reason);
    }
    if (kept.length === 0) return;
    try {
      const results = await options.write(kept.map((p) => p.item));
      if (results.length !== kept.length) {
        throw new Error(`batch write returned ${results.length} results for ${kept.length} items`);
      }
      for (const [i, p] of kept.entries()) p.resolve(results[i] as O);
    } catch (err) {
      for (const p of kept) p.reject(err);
    }
  };

  const pump = (): void => {
    if (writing !== undefined || queue.length === 0) return;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    writing = writeBatch(batch).finally(() => {
      writing = undefined;
      pump();
    });
  };

  return {
    submit(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        // Let the callers of this turn join before the first write goes out.
        queueMicrotask(pump);
      });
    },
    async drain() {
      while (writing !== undefined || queue.length > 0) {
        pump();
        await writing;
      }
    },
  };
}
