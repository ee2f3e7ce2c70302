/** Runs at most `limit` tasks at once; the rest wait in arrival order. */
export interface Limiter {
  run<T>(task: () => Promise<T>): Promise<T>;
  /**
   * Takes `n` slots at once (at most `limit`), waiting in arrival order; each
   * is given back by one `release()`. For work that must start the moment it
   * is committed to (a claimed push is sent at once, never queued).
   */
  acquire(n: number): Promise<void>;
  release(): void;
}

export function createLimiter(limit: number): Limiter {
  let active = 0;
  const waiting: { n: number; resolve: () => void }[] = [];
  const pump = () => {
    for (;;) {
      const head = waiting[0];
      if (head === undefined || active + head.n > limit) return;
      waiting.shift();
      active += head.n;
      head.resolve();
    }
  };
  const acquire = (n: number): Promise<void> => {
    if (n > limit) throw new RangeError(`cannot take ${n} of ${limit} slots`);
    const wanted = Math.max(n, 0);
    if (wanted === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      waiting.push({ n: wanted, resolve });
      pump();
    });
  };
  const release = () => {
    active--;
    pump();
  };
  return {
    acquire,
    release,
    async run(task) {
      await acquire(1);
      try {
        return await task();
      } finally {
        release();
      }
    },
  };
}
