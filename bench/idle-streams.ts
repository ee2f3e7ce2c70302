/**
 * Idle live streams: server memory and CPU per open stream, through the server's
 * own Subscribe writer and, in the same run, through the Connect implementation
 * (gzip-compressed requests are left to it). Embedded store and in-process bus.
 *
 * This process runs only the server, so that it can force a garbage collection
 * before reading its own memory; the streams are opened by a child process (the
 * load generator), whose CPU is reported apart.
 *
 *   node --expose-gc --import tsx bench/idle-streams.ts [--streams 10000] [--connections 100]
 *     [--phase all|raw|writer|connect]   (raw: a bare node:http2 server, the floor)
 *     [--heap-snapshot PREFIX]           (writes PREFIX-PHASE-{before,after}.heapsnapshot
 *                                         around the opening; diff with bench/heap-diff.ts)
 *     [--cpu-profile PREFIX]             (writes PREFIX-PHASE.cpuprofile of the opening only)
 *     [--alloc-profile PREFIX]           (writes PREFIX-PHASE.heapprofile: what the opening
 *                                         allocated, garbage included, sampled every 4 KB)
 *     [--settle-ms 2000]                 (idle time between the last Ready and the GC and
 *                                         reading: V8 keeps the young generation it grew for the
 *                                         burst until its allocation rate has been low a while)
 *     [--gc regular|last-resort]         (the forced collection before each reading; the RSS
 *                                         before it, after --settle-ms, is printed too: what
 *                                         the server gives back by itself, e.g. its idle
 *                                         young-generation release after >= 10 s quiet)
 *     [--gc-before same|last-resort]     (the collection before the reading that precedes the
 *                                         opening; last-resort: from the smallest young
 *                                         generation, whatever the account import grew)
 *     [--server-from src|dist|DIR]       (dist: the server as `npm start` runs it, compiled by
 *                                         `npm run build`, not through tsx; DIR: another build's
 *                                         dist/src, e.g. of the commit compared with; default src)
 */
import { fork } from "node:child_process";
import { setMaxListeners } from "node:events";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import v8 from "node:v8";
import { createClient } from "@connectrpc/connect";
import { compressionGzip, createGrpcTransport } from "@connectrpc/connect-node";
import { EventService } from "../src/gen/im/v1/events_pb.js";
import { importAccounts } from "./accounts.js";
import { authHeader, type BenchApp, createBenchApp } from "./clients.js";
import { readRssByMapping } from "./proc-stats.js";
import { startRawFrameServer } from "./raw-frame-server.js";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
};
const streams = Number(arg("streams", "10000"));
const connections = Number(arg("connections", "100"));
const userIds = Array.from({ length: streams }, (_, i) => `idle${i}`);
const WAVE = 500;
const snapshotPrefix = arg("heap-snapshot", "");
const profilePrefix = arg("cpu-profile", "");
const allocPrefix = arg("alloc-profile", "");
const serverFrom = arg("server-from", "src");
const settleMs = Number(arg("settle-ms", "2000"));
const gcFlavor = arg("gc", "regular");

/**
 * The server's modules from the sources (through tsx, as the other benches run
 * it) or from the build: tsx keeps every function's name by defining it on the
 * function object, which costs memory and time per closure that production,
 * running tsc's output, does not pay.
 */
async function serverModules() {
  const root =
    serverFrom === "src"
      ? "../src"
      : serverFrom === "dist"
        ? "../dist/src"
        : pathToFileURL(resolve(serverFrom)).href;
  const [app, config, log] = await Promise.all([
    import(`${root}/app.js`) as Promise<typeof import("../src/app.js")>,
    import(`${root}/config/config.js`) as Promise<typeof import("../src/config/config.js")>,
    import(`${root}/log/logger.js`) as Promise<typeof import("../src/log/logger.js")>,
  ]);
  return { startApp: app.startApp, readConfig: config.readConfig, silentLogger: log.silentLogger };
}

if (process.argv.includes("--client")) await runClient();
else await runServer();

async function runServer() {
  const gcOf = (globalThis as { gc?: (options?: { type: string; flavor: string }) => void }).gc;
  if (gcOf === undefined) throw new Error("run with node --expose-gc");
  // last-resort: the collection V8 makes under memory pressure, which also gives
  // back the young generation and the page pool the opening burst grew.
  const gc =
    gcFlavor === "last-resort"
      ? () => gcOf({ type: "major", flavor: "last-resort" })
      : () => gcOf();
  // The reading before the opening: a last-resort collection there also shrinks the
  // young generation the account import grew, so that a server which gives it back
  // after the opening is not credited with memory the import took.
  const gcBefore =
    arg("gc-before", "same") === "last-resort"
      ? () => gcOf({ type: "major", flavor: "last-resort" })
      : gc;
  const bench = createBenchApp();
  const phases = [
    ["raw", "raw node:http2 (floor)", false],
    ["writer", "own writer", false],
    ["connect", "Connect (fallback)", true],
  ] as const;
  // One phase per process gives each the same fresh heap: a later phase would
  // reuse memory an earlier one grew and freed, and look cheaper than it is.
  const only = arg("phase", "all");
  for (const [name, label, viaConnect] of phases) {
    if (only !== "all" && only !== name) continue;
    if (name === "raw") {
      // The runtime's floor in the same conditions: a bare HTTP/2 server answering Ready.
      const raw = await startRawFrameServer();
      await measure(name, label, `http://127.0.0.1:${raw.port}`, false);
      await raw.close();
      continue;
    }
    const { startApp, readConfig, silentLogger } = await serverModules();
    const app = await startApp(
      readConfig({
        HOST: "127.0.0.1",
        PORT: "0",
        APP_ID: String(bench.appId),
        APP_SECRET_KEY: bench.secretKey,
        ADMIN_USER_IDS: bench.adminUserId,
        ACCOUNT_BATCH_MAX: "1000",
      }),
      silentLogger,
    );
    const baseUrl = `http://127.0.0.1:${app.port}`;
    await importAccounts(
      createGrpcTransport({ baseUrl }),
      authHeader(bench, bench.adminUserId),
      userIds,
      1000,
    );
    await measure(name, label, baseUrl, viaConnect);
    await app.close();
  }

  async function measure(phase: string, label: string, baseUrl: string, viaConnect: boolean) {
    if (gc === undefined) return;
    gcBefore();
    await sleep(500);
    gcBefore();
    const before = process.memoryUsage();
    const spacesBefore = v8.getHeapSpaceStatistics();
    const newSpaceBefore = newSpaceCommitted();
    const mapsBefore = readRssByMapping(process.pid);
    // Written after the memory is read: a snapshot grows the heap it describes.
    if (snapshotPrefix !== "")
      v8.writeHeapSnapshot(`${snapshotPrefix}-${phase}-before.heapsnapshot`);
    const profiler = profilePrefix === "" ? undefined : new Session();
    if (profiler !== undefined) {
      profiler.connect();
      await profiler.post("Profiler.enable");
      await profiler.post("Profiler.setSamplingInterval", { interval: 200 });
      await profiler.post("Profiler.start");
    }
    const allocations = allocPrefix === "" ? undefined : new Session();
    if (allocations !== undefined) {
      allocations.connect();
      await allocations.post("HeapProfiler.startSampling", {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    }
    const cpuBefore = process.cpuUsage();
    const t0 = performance.now();
    const child = fork(fileURLToPath(import.meta.url), [
      "--client",
      "--streams",
      String(streams),
      "--connections",
      String(connections),
      "--base-url",
      baseUrl,
      "--bench-app",
      JSON.stringify(bench),
      ...(viaConnect ? ["--via-connect"] : []),
    ]);
    const childCpu = await new Promise<number>((resolve, reject) => {
      child.once("message", (m) => resolve((m as { cpuMs: number }).cpuMs));
      child.once("exit", (code) => reject(new Error(`load generator exited (${code})`)));
    });
    const openSec = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    if (allocations !== undefined) {
      const { profile } = await allocations.post("HeapProfiler.stopSampling");
      writeFileSync(`${allocPrefix}-${phase}.heapprofile`, JSON.stringify(profile));
      allocations.disconnect();
    }
    if (profiler !== undefined) {
      const { profile } = await profiler.post("Profiler.stop");
      writeFileSync(`${profilePrefix}-${phase}.cpuprofile`, JSON.stringify(profile));
      profiler.disconnect();
    }
    const openCpuMs = (cpu.user + cpu.system) / 1000 / streams;
    await sleep(settleMs);
    // What the idle server holds by itself, before this bench forces a collection.
    const unforced = process.memoryUsage();
    const newSpaceUnforced = newSpaceCommitted();
    gc();
    await sleep(500);
    gc();
    const after = process.memoryUsage();
    const spacesAfter = v8.getHeapSpaceStatistics();
    const mapsAfter = readRssByMapping(process.pid);
    if (snapshotPrefix !== "")
      v8.writeHeapSnapshot(`${snapshotPrefix}-${phase}-after.heapsnapshot`);
    const perStream = (a: number, b: number) => ((a - b) / 1024 / streams).toFixed(1);
    const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    console.log(
      `  ${settleMs} ms after the last Ready, before the forced GC: RSS ${perStream(unforced.rss, before.rss)} KB per stream; ` +
        `RSS / new space committed ${mb(before.rss)} / ${mb(newSpaceBefore)} MB before the opening, ` +
        `${mb(unforced.rss)} / ${mb(newSpaceUnforced)} MB then, ` +
        `${mb(after.rss)} / ${mb(newSpaceCommitted())} MB after the forced GC`,
    );
    console.log(
      `${label}: ${streams} idle streams over ${connections} connections, open in ${openSec.toFixed(1)} s; ` +
        `after forced GC: RSS ${perStream(after.rss, before.rss)} KB, heap ${perStream(after.heapUsed, before.heapUsed)} KB ` +
        `(of ${perStream(after.heapTotal, before.heapTotal)} KB committed), ` +
        `external ${perStream(after.external + after.arrayBuffers, before.external + before.arrayBuffers)} KB per stream; ` +
        `server CPU ${openCpuMs.toFixed(2)} ms per stream opened (with authentication); ` +
        `load generator CPU ${(childCpu / streams).toFixed(2)} ms per stream`,
    );
    // Where the committed heap grew: live objects, or room V8 kept after the burst.
    console.log(
      `  heap spaces, committed (used) KB per stream: ${spacesAfter
        .map((a) => {
          const b = spacesBefore.find((x) => x.space_name === a.space_name);
          const grew = (a.space_size - (b?.space_size ?? 0)) / 1024 / streams;
          const used = (a.space_used_size - (b?.space_used_size ?? 0)) / 1024 / streams;
          return `${a.space_name} ${grew.toFixed(1)} (${used.toFixed(1)})`;
        })
        .join(", ")}`,
    );
    if (mapsBefore !== undefined && mapsAfter !== undefined) {
      const grew = (k: keyof typeof mapsAfter) =>
        ((mapsAfter[k] - mapsBefore[k]) / streams).toFixed(1);
      console.log(
        `  RSS KB per stream by mapping: malloc heap ${grew("mallocHeap")}, ` +
          `other anonymous (V8 pages, mmapped chunks) ${grew("anonymous")}, files ${grew("files")}`,
      );
    }
    child.kill();
    gc();
    await sleep(1000);
  }
}

function newSpaceCommitted(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0;
}

async function runClient() {
  const bench = JSON.parse(arg("bench-app", "{}")) as BenchApp;
  const baseUrl = arg("base-url", "");
  const viaConnect = process.argv.includes("--via-connect");
  const transports = Array.from({ length: connections }, () =>
    createGrpcTransport({ baseUrl, ...(viaConnect ? { sendCompression: compressionGzip } : {}) }),
  );
  const abort = new AbortController();
  setMaxListeners(0, abort.signal);
  const cpu0 = process.cpuUsage();
  // In waves of WAVE streams (each wave once the previous is Ready): 10,000 calls
  // started at once would hold the loop long enough for the connections' own
  // establishment to time out on a loaded machine. Per-stream costs are the same.
  for (let from = 0; from < streams; from += WAVE) {
    const wave = userIds.slice(from, from + WAVE);
    let ready = 0;
    await new Promise<void>((resolve, reject) => {
      wave.forEach((userId, k) => {
        const transport = transports[(from + k) % connections];
        if (transport === undefined) throw new Error("no transports");
        const client = createClient(EventService, transport);
        void (async () => {
          try {
            for await (const e of client.subscribe(
              { deviceId: "bench" },
              { headers: authHeader(bench, userId), signal: abort.signal },
            )) {
              if (e.event.case === "ready" && ++ready === wave.length) resolve();
            }
          } catch (err) {
            if (!abort.signal.aborted) reject(err);
          }
        })();
      });
    });
  }
  const cpu = process.cpuUsage(cpu0);
  process.send?.({ cpuMs: (cpu.user + cpu.system) / 1000 });
  // Idle until the server's process ends this one.
  await new Promise(() => {});
}
