import { JetStreamApiError } from "@nats-io/jetstream";
import { TimeoutError } from "@nats-io/transport-node";
import type { Logger } from "../log/logger.js";

/**
 * Whether a JetStream API failure at start-up may pass by itself: a request that timed out
 * or was answered "temporarily unavailable" (503), as a cluster that has just started
 * answers while it elects its meta leader or forms a stream's R3 group. Anything else
 * (no JetStream, a refused setting) is final.
 */
const isTransientSetupError = (err: unknown): boolean =>
  err instanceof TimeoutError || (err instanceof JetStreamApiError && err.status === 503);

/** How long a set-up is tried again, by default: a just-started cluster's elections. */
const SETUP_BUDGET_MS = 30_000;

/**
 * Runs `setUp` until it succeeds, a final error, or `budgetMs` (default 30 s) has passed
 * since the first try; the set-up must be idempotent (reconciling is: it compares before
 * it changes).
 */
export async function retrySetup<T>(
  setUp: () => Promise<T>,
  logger: Logger,
  timing: { budgetMs?: number; waitMs?: number } = {},
): Promise<T> {
  const deadline = performance.now() + (timing.budgetMs ?? SETUP_BUDGET_MS);
  const waitMs = timing.waitMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await setUp();
    } catch (err) {
      if (!isTransientSetupError(err) || performance.now() + waitMs >= deadline) throw err;
      logger.warn("bus: JetStream set-up not answered yet; trying again", {
        attempt,
        err,
      });
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}
