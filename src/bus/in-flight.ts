/** Tracks running handlers: bounds concurrency and lets `stop()` drain them. */
export interface InFlight {
  readonly size: number;
  /** Tracks `work` until it settles (it must not reject). */
  track(work: Promise<unknown>): void;
  /** Resolves once fewer than `limit` are running. */
  whenBelow(limit: number): Promise<void>;
  /**
   * Resolves true once all have settled, or false after `timeoutMs`: a handler that
   * never ends must not hang shutdown, and its event is redelivered after ack wait anyway.
   */
  drain(timeoutMs: number): Promise<boolean>;
}

export function createInFlight(): InFlight {
  const running = new Set<Promise<unknown>>();
  let waiters: (() => void)[] = [];

  const wake = (): void => {
    const ready = waiters;
    waiters = [];
    for (const w of ready) w();
  };

  const whenBelow = async (limit: number): Promise<void> => {
    while (running.size >= limit) {
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };

  return {
    get size() {
      return running.size;
    },
    track(work) {
      running.add(work);
      void work.finally(() => {
        running.delete(work);
        wake();
      });
    },
    whenBelow,
    async drain(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        return await Promise.race([whenBelow(1).then(() => true), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
