/**
 * Counters per fixed time window, shared by every process on the bus: what
 * cluster-wide per-user rate limits need. A count lives for its window (and a
 * little longer), never in the document store.
 */
export interface WindowCounters {
  /**
   * Adds `by` (a positive integer) to the count of `scope` for `id` in the window
   * of `windowMs` that holds `nowMs` (windows start at multiples of `windowMs`
   * since the epoch), and resolves the window's count including it, across every
   * process.
   * Rejects when the bus cannot count (unreachable); the caller decides
   * whether to fail open. `scope` is `[a-z]+`, `id` a user id
   * (`[A-Za-z0-9_-]{1,32}`), `windowMs` at most `MAX_COUNTER_WINDOW_MS`.
   */
  increment(
    scope: string,
    id: string,
    windowMs: number,
    nowMs: number,
    by?: number,
  ): Promise<number>;
}

/** Longest window a counter may use (the NATS counters keep keys twice this long). */
export const MAX_COUNTER_WINDOW_MS = 10 * 60 * 1000;

const SCOPE = /^[a-z]{1,32}$/;
const ID = /^[A-Za-z0-9_-]{1,32}$/;

/** The window index of `nowMs`; throws on arguments a subject token could not carry. */
export function counterWindow(
  scope: string,
  id: string,
  windowMs: number,
  nowMs: number,
  by = 1,
): number {
  // Validated, not trusted: the parts become subject tokens.
  if (!SCOPE.test(scope)) throw new Error(`invalid counter scope "${scope}"`);
  if (!ID.test(id)) throw new Error(`invalid counter id "${id}"`);
  if (!Number.isInteger(windowMs) || windowMs <= 0 || windowMs > MAX_COUNTER_WINDOW_MS) {
    throw new Error(`counter window must be 1..${MAX_COUNTER_WINDOW_MS} ms, got ${windowMs}`);
  }
  if (!Number.isSafeInteger(by) || by < 1)
    throw new Error(`counter increment must be >= 1, got ${by}`);
  return Math.floor(nowMs / windowMs);
}
