import { performance } from "node:perf_hooks";
import v8 from "node:v8";
import type { Worker } from "../common/component.js";
import { createPeriodicWorker } from "../common/periodic-worker.js";
import type { Logger } from "../log/logger.js";
import type { GcFunction } from "./expose-gc.js";
import { createYoungGenerationPolicy, type HeapReading } from "./young-generation-policy.js";

// Quiet: the loop busy at most a tenth of the time (10,000 idle streams: a few %;
// a closed-loop message load: ~100%).
const QUIET_UTILIZATION_MAX = 0.1;
// Long enough to tell idle from a pause between bursts.
const QUIET_MS_NEEDED = 10_000;
// Bounds the cost on a server whose traffic regrows new space between quiet spells.
const GAP_MS = 5 * 60_000;

function readNewSpaceCommitted(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0;
}

/** Readings of new space and of the event loop's utilization since the last reading. */
function heapReader(): () => HeapReading {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const since = performance.eventLoopUtilization(now, last);
    last = now;
    return {
      newSpaceCommitted: readNewSpaceCommitted(),
      utilization: since.utilization,
      atMs: performance.now(),
    };
  };
}

/**
 * Gives back the young generation an idle server keeps after a burst (e.g. many
 * streams opening): reads new space and the event loop every `intervalMs` and,
 * once the loop has been quiet long enough, runs one memory-reducing collection.
 * A minor or a regular major collection shrinks new space, but V8 keeps the freed
 * pages in its pool (RSS unchanged; bench/README.md "Idle streams, session 8");
 * the last-resort flavour also releases the pool. It is a full collection, paid
 * once per burst while idle. Under load no interval is quiet, so it never runs.
 */
export function createYoungGenerationRelease(deps: {
  intervalMs: number;
  gc: GcFunction;
  logger: Logger;
  read?: () => HeapReading;
  /** How long the loop must be quiet before a collection (tests shorten it). */
  quietMs?: number;
}): Worker {
  const read = deps.read ?? heapReader();
  const policy = createYoungGenerationPolicy({
    quietReadingsNeeded: Math.max(
      2,
      Math.ceil((deps.quietMs ?? QUIET_MS_NEEDED) / deps.intervalMs),
    ),
    quietUtilizationMax: QUIET_UTILIZATION_MAX,
    gapMs: GAP_MS,
  });
  return createPeriodicWorker({
    name: "young-generation-release",
    intervalMs: deps.intervalMs,
    logger: deps.logger,
    async run() {
      const before = read();
      if (!policy.shouldRelease(before)) return;
      const started = performance.now();
      deps.gc({ type: "major", flavor: "last-resort" });
      const after = read().newSpaceCommitted;
      policy.released(after);
      deps.logger.debug("young generation released", {
        newSpaceBefore: before.newSpaceCommitted,
        newSpaceAfter: after,
        ms: Math.round(performance.now() - started),
      });
    },
  });
}
