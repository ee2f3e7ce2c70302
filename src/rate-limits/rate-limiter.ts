import type { Caller } from "../auth/caller.js";
import type { WindowCounters } from "../bus/index.js";
import type { Clock } from "../common/clock.js";
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

export function createRateLimiter(deps: {
  counters: WindowCounters;
  settings: RateLimitSettings;
  clock: Clock;
  logger: Logger;
}): RateLimiter {
  const { counters, settings, clock } = deps;
  const logger = deps.logger.child({ component: "rate-limits" });
  let lastFailureLog = Number.NEGATIVE_INFINITY;
  return {
    async check(caller, rateClass) {
      const max = settings.max[rateClass];
      if (max === 0 || caller.isAdmin) return;
      const now = clock();
      let count: number;
      try {
        count = await counters.increment(rateClass, caller.userId, settings.windowMs, now);
      } catch (err) {
        if (now - lastFailureLog >= FAILURE_LOG_EVERY_MS) {
          lastFailureLog = now;
          logger.warn("rate limit not checked: the counters cannot be reached", { err });
        }
        return;
      }
      if (count <= max) return;
      const retryAfterMs = settings.windowMs - (now % settings.windowMs);
      throw new DomainError(
        "resource-exhausted",
        ErrorReason.RATE_LIMITED,
        `more than ${max} ${rateClass} calls per ${settings.windowMs / 1000} s; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
        { retryAfterMs },
      );
    },
  };
}
