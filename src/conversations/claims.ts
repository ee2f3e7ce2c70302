import type { Clock } from "../common/clock.js";
import type { Worker } from "../common/component.js";
import { createPeriodicWorker } from "../common/periodic-worker.js";
import type { Logger } from "../log/logger.js";
import { createGroupCommit } from "./group-commit.js";
import type { ClaimRequest, ClaimStore, DedupClaim } from "./store.js";

/**
 * The idempotency claims of every conversation kind's sends, in one store.
 * Each kind registers the window it keeps them for; the sweep deletes only
 * claims older than the longest window.
 */
export interface SendClaims extends Pick<ClaimStore, "claimDedupKey" | "releaseDedupKey"> {
  /** Registers a kind's duplicate window: claims younger than it are kept. */
  keepFor(windowMs: number): void;
  /** Deletes claims older than every registered window; returns how many. */
  sweep(): Promise<number>;
}

export function createSendClaims(deps: {
  store: ClaimStore;
  clock: Clock;
  /** Most claims written in one batch. */
  maxBatch: number;
}): SendClaims {
  const { store, clock } = deps;
  let longestWindowMs = 0;
  // Group commit: the claims that arrive while a batch is written go into the
  // next one. One key twice in a batch would be claimed by both, so a repeat
  // waits for the next batch.
  const commit = createGroupCommit<ClaimRequest, DedupClaim>({
    maxBatch: deps.maxBatch,
    write: (requests) => store.claimDedupKeys(requests),
  });
  const inBatch = new Map<string, Promise<unknown>>();
  const claim = (request: ClaimRequest): Promise<DedupClaim> => {
    const before = inBatch.get(request.key);
    const result =
      before === undefined
        ? commit.submit(request)
        : before.then(
            () => commit.submit(request),
            () => commit.submit(request),
          );
    const settled = result.catch(() => {});
    inBatch.set(request.key, settled);
    void settled.then(() => {
      if (inBatch.get(request.key) === settled) inBatch.delete(request.key);
    });
    return result;
  };
  return {
    claimDedupKey: (key, nowMs, windowMs) => claim({ key, nowMs, windowMs }),
    releaseDedupKey: (key) => store.releaseDedupKey(key),
    keepFor(windowMs) {
      longestWindowMs = Math.max(longestWindowMs, windowMs);
    },
    sweep: () => store.deleteDedupKeysBefore(clock() - longestWindowMs),
  };
}

/** Sweeps old claims about once every `intervalMs` (real time; housekeeping only). */
export function createClaimSweeper(deps: {
  claims: Pick<SendClaims, "sweep">;
  logger: Logger;
  intervalMs: number;
}): Worker {
  return createPeriodicWorker({
    name: "sweeping send claims",
    run: () => deps.claims.sweep(),
    intervalMs: deps.intervalMs,
    logger: deps.logger,
  });
}
