import type { Clock } from "../common/clock.js";
import type { MessageStore } from "./c2c/store.js";

/**
 * The idempotency claims of every send path (one-to-one and group), kept in
 * one store. Each user of the claims registers the window it keeps them for;
 * the sweep deletes only claims older than the longest window.
 */
export interface SendClaims extends Pick<MessageStore, "claimDedupKey" | "releaseDedupKey"> {
  /** Registers a user's duplicate window: claims younger than it are kept. */
  keepFor(windowMs: number): void;
  /** Deletes claims older than every registered window; returns how many. */
  sweep(): Promise<number>;
}

export function createSendClaims(deps: {
  store: Pick<MessageStore, "claimDedupKey" | "releaseDedupKey" | "deleteDedupKeysBefore">;
  clock: Clock;
}): SendClaims {
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
