import { flat } from "../common/flat-string.js";
import { counterWindow, type WindowCounters } from "./window-counters.js";

/** How often windows that have ended are forgotten, in counted events. */
const SWEEP_EVERY = 1024;

/**
 * Counters of the in-process bus: shared by the buses of one MemoryHub (the
 * "processes" of one server), gone with the process.
 */
export function createMemoryWindowCounters(): WindowCounters {
  // key -> [window index, count]; the window's end, for the sweep.
  const counts = new Map<string, { window: number; count: number; endsAt: number }>();
  let untilSweep = SWEEP_EVERY;
  return {
    async increment(scope, id, windowMs, nowMs, by = 1) {
      const window = counterWindow(scope, id, windowMs, nowMs, by);
      if (--untilSweep <= 0) {
        untilSweep = SWEEP_EVERY;
        for (const [key, entry] of counts) if (entry.endsAt <= nowMs) counts.delete(key);
      }
      const key = `${scope}.${id}.${windowMs}`;
      const entry = counts.get(key);
      if (entry === undefined || entry.window !== window) {
        // Kept for the window: flat, not a rope of the key's parts.
        counts.set(flat(key), { window, count: by, endsAt: (window + 1) * windowMs });
        return by;
      }
      entry.count += by;
      return entry.count;
    },
  };
}
