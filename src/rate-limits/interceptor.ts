import type { Interceptor } from "@connectrpc/connect";
import { callerKey } from "../auth/caller.js";
import type { RateLimiter } from "./rate-limiter.js";
import { RPC_RATE_CLASSES } from "./rpc-classes.js";

/**
 * Per-user rate limits on the RPCs of `RPC_RATE_CLASSES`, checked after
 * authentication and before the handler runs: a limited call does no work.
 */
export function rateLimitInterceptor(limiter: RateLimiter): Interceptor {
  return (next) => async (req) => {
    const rateClass = RPC_RATE_CLASSES.get(`${req.service.typeName}/${req.method.name}`);
    const caller = req.contextValues.get(callerKey);
    if (rateClass !== undefined && caller !== undefined) await limiter.check(caller, rateClass);
    return next(req);
  };
}
