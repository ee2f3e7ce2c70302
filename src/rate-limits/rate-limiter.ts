import type { Caller } from "../auth/caller.js";
import type { WindowCounters } from "../bus/index.js";
import type { Clock } from "../common/clock.js";
import { flat } from "../common/flat-string.js";
import { DomainError, ErrorReason } from "../errors/domain-error.js";
import type { Logger } from "../log/logger.js";
import type { RateClass, RateLimitSettings } from "./settings.js";

export interface RateLimiter {
  /**
   * Counts a call of `rateClass` by the caller and throws RATE_LIMITED
   * (ResourceExhausted, with the time until the window ends) past the limit.
   * App administrators are not counted. When the bus cannot count, the call
   * is let through (logged): the limit protects the service, and an outage of
   * its counters must not stop it.
   */
  check(caller: Caller, rateClass: RateClass): Promise<void>;
}

/** Counting failures are logged at most this often. */
const FAILURE_LOG_EVERY_MS = 10_000;
/**
 * A node claims a user's calls from the shared counter in shares of about
 * 1/CLAIM_PARTS of the limit and spends them locally, so a busy user costs a
 * bus round trip every few calls instead of every call (the send path is hot).
 * Claims never add up past the limit; the price is that calls of one user
 * spread over N nodes may be refused up to N x (share - 1) calls early.
 */
const CLAIM_PARTS = 8;
/** Users' shares are forgotten once their window ended, every this many claims. */
const SWEEP_EVERY = 1024;

/** This node's share of one user's calls of one class in one window. */
interface Share {
  window: number;
  granted: number;
  used: number;
  /** The shared count reached the limit: no claim can grant more this window. */
  exhausted: boolean;
  /**
   * The claim in flight: concurrent calls wait for it instead of each claiming a
   * share (a burst of N calls would take N shares, up to the whole limit).
   */
  claiming?: Promise<void> | undefined;
}

export function createRateLimiter(deps: {
  counters: WindowCounters;
  settings: RateLimitSettings;
  clock: Clock;
  logger: Logger;
}): RateLimiter {
  const { counters, settings, clock } = deps;
  const { windowMs } = settings;
  const logger = deps.logger.child({ component: "rate-limits" });
  let lastFailureLog = Number.NEGATIVE_INFINITY;
  const shares = new Map<string, Share>();
  let untilSweep = SWEEP_EVERY;

  const limited = (max: number, rateClass: RateClass, now: number) => {
    const retryAfterMs = windowMs - (now % windowMs);
    return new DomainError(
      "resource-exhausted",
      ErrorReason.RATE_LIMITED,
      `more than ${max} ${rateClass} calls per ${windowMs / 1000} s; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
      { retryAfterMs },
    );
  };

  /** Claims up to `size` more calls for this node; the units past the limit are not granted. */
  const claim = async (share: Share, key: [RateClass, string], max: number, now: number) => {
    const size = Math.ceil(max / CLAIM_PARTS);
    const total = await counters.increment(key[0], key[1], windowMs, now, size);
    share.granted += Math.max(0, Math.min(total, max) - (total - size));
    if (total >= max) share.exhausted = true;
  };

  return {
    async check(caller, rateClass) {
      const max = settings.max[rateClass];
      if (max === 0 || caller.isAdmin) return;
      const now = clock();
      const window = Math.floor(now / windowMs);
      const key = `${rateClass}.${caller.userId}`;
      let share = shares.get(key);
      if (share === undefined || share.window !== window) {
        if (--untilSweep <= 0) {
          untilSweep = SWEEP_EVERY;
          for (const [k, s] of shares) if (s.window < window) shares.delete(k);
        }
        share = { window, granted: 0, used: 0, exhausted: false };
        // Kept for the window (a stream's login counts): flat, not a rope of two.
        shares.set(flat(key), share);
      }
      while (share.used >= share.granted && !share.exhausted) {
        const s = share;
        s.claiming ??= claim(s, [rateClass, caller.userId], max, now).finally(() => {
          s.claiming = undefined;
        });
        try {
          await s.claiming;
        } catch (err) {
          if (now - lastFailureLog >= FAILURE_LOG_EVERY_MS) {
            lastFailureLog = now;
            logger.warn("rate limit not checked: the counters cannot be reached", { err });
          }
          return;
        }
      }
      if (share.used >= share.granted) throw limited(max, rateClass, now);
      share.used++;
    },
  };
}
