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
 */
import { fork } from "node:child_process";
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { compressionGzip, createGrpcTransport } from "@connectrpc/connect-node";
import { startApp } from "../src/app.js";
import { readConfig } from "../src/config/config.js";
import { EventService } from "../src/gen/im/v1/events_pb.js";
import { silentLogger } from "../src/log/logger.js";
import { importAccounts } from "./accounts.js";
import { authHeader, type BenchApp, createBenchApp } from "./clients.js";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
};
const streams = Number(arg("streams", "10000"));
const connections = Number(arg("connections", "100"));
const userIds = Array.from({ length: streams }, (_, i) => `idle${i}`);

if (process.argv.includes("--client")) await runClient();
else await runServer();

async function runServer() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with node --expose-gc");
  const bench = createBenchApp();
  for (const [label, viaConnect] of [
    ["own writer", false],
    ["Connect (fallback)", true],
  ] as const) {
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
    gc();
    await sleep(500);
    gc();
    const before = process.memoryUsage();
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
    const openCpuMs = (cpu.user + cpu.system) / 1000 / streams;
    await sleep(2000);
    gc();
    await sleep(500);
    gc();
    const after = process.memoryUsage();
    const perStream = (a: number, b: number) => ((a - b) / 1024 / streams).toFixed(1);
    console.log(
      `${label}: ${streams} idle streams over ${connections} connections, open in ${openSec.toFixed(1)} s; ` +
        `after forced GC: RSS ${perStream(after.rss, before.rss)} KB, heap ${perStream(after.heapUsed, before.heapUsed)} KB, ` +
        `external ${perStream(after.external + after.arrayBuffers, before.external + before.arrayBuffers)} KB per stream; ` +
        `server CPU ${openCpuMs.toFixed(2)} ms per stream opened (with authentication); ` +
        `load generator CPU ${(childCpu / streams).toFixed(2)} ms per stream`,
    );
    child.kill();
    await app.close();
    gc();
    await sleep(1000);
  }
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
  let ready = 0;
  const cpu0 = process.cpuUsage();
  await new Promise<void>((resolve, reject) => {
    userIds.forEach((userId, i) => {
      const transport = transports[i % connections];
      if (transport === undefined) throw new Error("no transports");
      const client = createClient(EventService, transport);
      void (async () => {
        try {
          for await (const e of client.subscribe(
            { deviceId: "bench" },
            { headers: authHeader(bench, userId), signal: abort.signal },
          )) {
            if (e.event.case === "ready" && ++ready === streams) resolve();
          }
        } catch (err) {
          if (!abort.signal.aborted) reject(err);
        }
      })();
    });
  });
  const cpu = process.cpuUsage(cpu0);
  process.send?.({ cpuMs: (cpu.user + cpu.system) / 1000 });
  // Idle until the server's process ends this one.
  await new Promise(() => {});
}
