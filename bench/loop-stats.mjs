// A diagnostic preload for the bench's server (issue 12, p99 send->deliver):
// event-loop delay and GC pauses of the process, written as JSON at exit to
// $LOOP_STATS_FILE (default /tmp/loop-stats-<pid>.json). Use:
//   npm run -s bench -- c2c ... --server-env NODE_OPTIONS=--import=./bench/loop-stats.mjs
// It tells a stalled process (GC, or not scheduled on a loaded machine) from a
// slow message path: the figures in bench/README.md, "p99 send->deliver".
import { writeFileSync } from "node:fs";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";

const delay = monitorEventLoopDelay({ resolution: 5 });
delay.enable();
const gc = { count: 0, totalMs: 0, maxMs: 0, over50Ms: 0, msByKind: {} };
const kinds = { 1: "minor", 2: "major", 4: "major", 8: "incremental", 16: "weakcb" };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count++;
    gc.totalMs += e.duration;
    gc.maxMs = Math.max(gc.maxMs, e.duration);
    if (e.duration > 50) gc.over50Ms++;
    const kind = kinds[e.detail?.kind] ?? String(e.detail?.kind);
    gc.msByKind[kind] = (gc.msByKind[kind] ?? 0) + e.duration;
  }
}).observe({ entryTypes: ["gc"] });
// A 100 ms tick that comes late by more than 50 ms: the process stalled.
const late = [];
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  if (now - last > 150) late.push(Math.round(now - last - 100));
  last = now;
}, 100).unref();

process.on("exit", () => {
  const ms = (ns) => Math.round(ns / 1e4) / 100;
  const round = (v) => Math.round(v * 10) / 10;
  const file = process.env.LOOP_STATS_FILE || `/tmp/loop-stats-${process.pid}.json`;
  writeFileSync(
    file,
    JSON.stringify({
      uptimeSec: round(process.uptime()),
      loopDelayMs: {
        p50: ms(delay.percentile(50)),
        p99: ms(delay.percentile(99)),
        max: ms(delay.max),
      },
      gc: {
        ...gc,
        totalMs: round(gc.totalMs),
        maxMs: round(gc.maxMs),
        msByKind: Object.fromEntries(Object.entries(gc.msByKind).map(([k, v]) => [k, round(v)])),
      },
      stallsOver50Ms: late.length,
      worstStallsMs: late.sort((a, b) => b - a).slice(0, 5),
    }),
  );
});
