/**
 * Gathers the NATS writes (publishes, requests, acks) started in one
 * event-loop turn and issues them together at its end. nats.js flushes its
 * outbound buffer one microtask after a write into an empty buffer, so writes
 * of separate continuations (a send's live event, its JetStream publish,
 * another event's ack) each cost a socket write of their own: ~13% of the
 * server's CPU on the in-memory send path. Issued back to back they share one.
 *
 * Writes nobody waits for (consumer acks) can wait longer: `deferLazy` holds
 * them for the next turn that writes anyway, or `lazyMs` at most. A fan-out
 * event's ack comes a turn or more after its own publish went out, so on its
 * own it was a socket write per message (~15% of the in-memory send path's CPU
 * at 150 msg/s); held, it rides with the next message's publish.
 */
export interface TurnWrites {
  /**
   * Runs `write` at the end of this turn, after the writes deferred before it;
   * if it throws, `onError` (or the logger given at creation) gets the error.
   */
  defer(write: () => void, onError?: (err: unknown) => void): void;
  /**
   * Runs `write` with the next turn's writes, or after `lazyMs` when no other
   * write comes by then: for writes whose timing nobody waits on.
   */
  deferLazy(write: () => void, onError?: (err: unknown) => void): void;
  /**
   * Runs `write` at the end of this turn after every write deferred in it, also
   * those deferred after this call (a flush's PING that must follow them all and
   * share their socket write).
   */
  deferLast(write: () => void, onError?: (err: unknown) => void): void;
  /** Runs the deferred writes now (before a flush or close of the connection). */
  flush(): void;
}

export interface TurnWritesOptions {
  /** Longest a lazy write waits for company; default 20 ms. */
  lazyMs?: number;
  /** Timers, for tests; default the global ones. */
  timers?: {
    set(run: () => void, ms: number): unknown;
    clear(handle: unknown): void;
  };
}

const nodeTimers = {
  set: (run: () => void, ms: number): unknown => setTimeout(run, ms).unref(),
  clear: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
};

export function createTurnWrites(
  onError: (err: unknown) => void,
  options: TurnWritesOptions = {},
): TurnWrites {
  const lazyMs = options.lazyMs ?? 20;
  const timers = options.timers ?? nodeTimers;
  type Write = { write: () => void; onError: ((err: unknown) => void) | undefined };
  let queue: Write[] = [];
  let last: Write[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  /** Armed while only lazy writes are queued. */
  let lazyTimer: unknown;
  const flush = () => {
    if (scheduled !== undefined) clearImmediate(scheduled);
    scheduled = undefined;
    if (lazyTimer !== undefined) timers.clear(lazyTimer);
    lazyTimer = undefined;
    const writes = last.length === 0 ? queue : [...queue, ...last];
    queue = [];
    last = [];
    for (const { write, onError: failed } of writes) {
      try {
        write();
      } catch (err) {
        (failed ?? onError)(err);
      }
    }
  };
  return {
    defer(write, failed) {
      queue.push({ write, onError: failed });
      scheduled ??= setImmediate(flush);
    },
    deferLazy(write, failed) {
      queue.push({ write, onError: failed });
      if (scheduled === undefined) lazyTimer ??= timers.set(flush, lazyMs);
    },
    deferLast(write, failed) {
      last.push({ write, onError: failed });
      scheduled ??= setImmediate(flush);
    },
    flush,
  };
}
