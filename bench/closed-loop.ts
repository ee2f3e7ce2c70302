import { createLatencyRecorder, type LatencyRecorder, type LatencySummary } from "./latency.js";

export interface ClosedLoopResult {
  ops: number;
  errors: number;
  perSec: number;
  latencyMs: LatencySummary;
}

/**
 * Runs `op` from `concurrency` workers, each starting the next call when its
 * last one finished, for `durationMs`. The usual way to find how much a
 * service sustains: throughput at a fixed number of outstanding requests.
 */
export async function runClosedLoop(
  op: (i: number) => Promise<unknown>,
  options: { concurrency: number; durationMs: number },
): Promise<ClosedLoopResult> {
  const latency = createLatencyRecorder();
  let next = 0;
  let errors = 0;
  let firstError: unknown;
  const started = performance.now();
  const deadline = started + options.durationMs;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await op(next++);
        latency.add(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return loopResult(latency, errors, firstError, started);
}

/** What a loop that started at `started` did; throws when it mostly failed. */
export function loopResult(
  latency: LatencyRecorder,
  errors: number,
  firstError: unknown,
  started: number,
): ClosedLoopResult {
  const elapsedSec = (performance.now() - started) / 1000;
  // A baseline that mostly failed measured nothing: say so instead of reporting a rate.
  if (errors > latency.count) {
    throw new Error(`baseline failed ${errors} of ${errors + latency.count} ops`, {
      cause: firstError,
    });
  }
  return {
    ops: latency.count,
    errors,
    perSec: latency.count / elapsedSec,
    latencyMs: latency.summary(),
  };
}
