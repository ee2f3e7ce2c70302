import type { Clock } from "../common/clock.js";
import type { Worker } from "../common/component.js";
import type { Logger } from "../log/logger.js";
import type { ClaimStore } from "./store.js";

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

export function createSendClaims(deps: { store: ClaimStore; clock: Clock }): SendClaims {
  const { store, clock } = deps;
  let longestWindowMs = 0;
  return {
    claimDedupKey: (key, nowMs, windowMs) => store.claimDedupKey(key, nowMs, windowMs),
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
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const tick = () => {
    timer = setTimeout(() => {
      running = deps.claims
        .sweep()
        .catch((err: unknown) => deps.logger.warn("sweeping send claims failed", { err }))
        .finally(() => {
          running = undefined;
          if (timer !== undefined) tick();
        });
    }, deps.intervalMs);
    timer.unref();
  };
  return {
    name: "claim-sweeper",
    start() {
      if (timer === undefined) tick();
    },
    async stop() {
      clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
