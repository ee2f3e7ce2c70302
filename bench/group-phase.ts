import { setTimeout as sleep } from "node:timers/promises";
import type { GroupMessagePriority } from "../src/gen/im/v1/group_pb.js";
import type { GroupSender } from "./group-sender.js";
import type { BenchGroup } from "./group-setup.js";
import { createGroupTracker, type GroupTracker, type GroupTrackerResult } from "./group-tracker.js";
import { openLoop } from "./open-loop.js";
import { createCpuMeter, readCpuSeconds, sampleRss } from "./proc-stats.js";

/** What every group phase runs against: one server, one sender, streams already open. */
export interface GroupPhaseContext {
  /** The one sender (the groups' owner); it has no stream of its own. */
  sender: GroupSender;
  /** Points the open streams' deliveries at this phase's tracker. */
  track(tracker: GroupTracker): void;
  /** Processes whose CPU is read per phase. */
  pids: Record<string, number | undefined>;
  serverPid: number;
  log: (line: string) => void;
}

/** One load on one group, and what the machine did meanwhile. */
export interface GroupPhaseResult {
  tracker: GroupTracker;
  result: GroupTrackerResult;
  /** CPU while sending, % of one core per process. */
  cpuPct: Record<string, number>;
  serverRssMaxMb: number;
  /** Sends due but held back by the outstanding bound. */
  maxBacklog: number;
}

// A FerretDB-backed fan-out of 10,000 members may run seconds behind; wait, but not forever.
const DRAIN_TIMEOUT_MS = 30_000;
const COMPLETE_TIMEOUT_MS = 30_000;

/**
 * Unloaded latency: each message is sent once the previous one has reached
 * every online member, so none waits behind another.
 */
export async function runPaced(
  ctx: GroupPhaseContext,
  group: BenchGroup,
  options: { label: string; messages: number; expected: number },
): Promise<GroupPhaseResult> {
  return measure(ctx, async (tracker) => {
    tracker.openWindow(3_600_000);
    for (let n = 0; n < options.messages; n++) {
      const id = `${options.label}.${n}`;
      const seq = await ctx.sender.send({ groupId: group.groupId, id, expected: options.expected });
      if (seq !== undefined && seq > 0n) await tracker.whenComplete(id, COMPLETE_TIMEOUT_MS);
      // A breath between messages so the probe stays unloaded.
      await sleep(20);
    }
    tracker.closeWindow();
    return 0;
  });
}

/**
 * Open loop at `rate` messages/s, warm-up then `durationSec` measured, then a
 * drain until every accepted message reached every online member (or a timeout).
 * At most `window` messages are outstanding until fully delivered: a server
 * that cannot keep up turns this into a closed loop at its own pace (the sends
 * held back are reported as backlog) instead of a pile of timed-out sends whose
 * work would spill into the next phase.
 */
export async function runAtRate(
  ctx: GroupPhaseContext,
  group: BenchGroup,
  options: {
    label: string;
    rate: number;
    warmupSec: number;
    durationSec: number;
    expected: number;
    window: number;
    priorityOf?: (n: number) => GroupMessagePriority;
    onSent?: (id: string, n: number, seq: bigint | undefined) => void;
  },
): Promise<GroupPhaseResult> {
  return measure(ctx, async (tracker, cpuMark) => {
    const warmupMs = options.warmupSec * 1000;
    const durationMs = options.durationSec * 1000;
    const openWindow = () => {
      tracker.openWindow(durationMs);
      cpuMark();
    };
    const windowTimer = warmupMs > 0 ? setTimeout(openWindow, warmupMs) : undefined;
    if (warmupMs === 0) openWindow();
    try {
      const startedAt = performance.now();
      const { maxBacklog } = await openLoop(
        options.rate,
        options.window,
        Number.MAX_SAFE_INTEGER,
        startedAt,
        startedAt + warmupMs + durationMs,
        async (n) => {
          const id = `${options.label}.${n}`;
          const seq = await ctx.sender.send({
            groupId: group.groupId,
            id,
            expected: options.expected,
            priority: options.priorityOf?.(n),
          });
          options.onSent?.(id, n, seq);
          if (seq !== undefined && seq > 0n) await tracker.whenComplete(id, COMPLETE_TIMEOUT_MS);
        },
      );
      return maxBacklog;
    } finally {
      clearTimeout(windowTimer);
    }
  });
}

/**
 * Waits until the server and the document store are nearly idle (a slow
 * store may still be working off the previous phase's queries), at most `timeoutMs`.
 * Returns the seconds waited.
 */
export async function settle(ctx: GroupPhaseContext, timeoutMs = 60_000): Promise<number> {
  const startedAt = performance.now();
  const pids = [ctx.pids.server, ctx.pids.ferretdb].filter((p): p is number => p !== undefined);
  const busy = () => pids.reduce((sum, pid) => sum + (readCpuSeconds(pid) ?? 0), 0);
  for (;;) {
    const before = busy();
    await sleep(500);
    // Under a fifth of a core over half a second: idle apart from timers and keep-alives.
    if (busy() - before < 0.1) break;
    if (performance.now() - startedAt > timeoutMs) break;
  }
  return (performance.now() - startedAt) / 1000;
}

/** Runs a load with its own tracker, CPU meter and RSS sampler, then drains. */
async function measure(
  ctx: GroupPhaseContext,
  load: (tracker: GroupTracker, cpuMark: () => void) => Promise<number>,
): Promise<GroupPhaseResult> {
  const tracker = createGroupTracker();
  ctx.track(tracker);
  const cpu = createCpuMeter(ctx.pids);
  cpu.mark();
  const rss = sampleRss(ctx.serverPid);
  const maxBacklog = await load(tracker, () => cpu.mark());
  // CPU of the sending time only: the drain would dilute it with idle time.
  const cpuPct = cpu.read();
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  while (tracker.incomplete() > 0 && performance.now() < deadline) await sleep(50);
  return {
    tracker,
    result: tracker.result(),
    cpuPct,
    serverRssMaxMb: rss.stop().maxKb / 1024,
    maxBacklog,
  };
}
