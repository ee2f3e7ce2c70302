import { setTimeout as sleep } from "node:timers/promises";

/**
 * Starts `op` on schedule, `rate` per second from `startedAt` until `endAt`
 * (open loop: a slow answer does not slow the next start), at most
 * `concurrency` outstanding; op i gets i mod `count`. Returns the largest
 * number of starts that were due but held back by `concurrency`.
 */
export async function openLoop(
  rate: number,
  concurrency: number,
  count: number,
  startedAt: number,
  endAt: number,
  op: (index: number) => Promise<void>,
): Promise<{ maxBacklog: number }> {
  let issued = 0;
  let maxBacklog = 0;
  const outstanding = new Set<Promise<void>>();
  for (;;) {
    const now = performance.now();
    if (now >= endAt) break;
    // Starts due by now, from the schedule: a late tick catches up instead of lowering the rate.
    const due = Math.floor(((now - startedAt) * rate) / 1000) - issued;
    let started = 0;
    while (started < due && outstanding.size < concurrency) {
      const p: Promise<void> = op(issued % count).finally(() => outstanding.delete(p));
      outstanding.add(p);
      issued++;
      started++;
    }
    maxBacklog = Math.max(maxBacklog, due - started);
    await sleep(1);
  }
  await Promise.all(outstanding);
  return { maxBacklog };
}
