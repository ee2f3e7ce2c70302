import { setTimeout as sleep } from "node:timers/promises";
import type { StoreCommandCounts } from "../src/storage/storage.js";
import { freePort } from "../test/services/local-process.js";
import { importAccounts } from "./accounts.js";
import type { C2cOptions } from "./c2c-options.js";
import { authHeader, type BenchApp, createTransportPool } from "./clients.js";
import { createCpuMeter, readCpuSeconds, readPeakRssKb, sampleRss } from "./proc-stats.js";
import { openReceivers } from "./receivers.js";
import { type Pair, runLoad } from "./senders.js";
import { type ServerCounts, startServerProcess } from "./server-process.js";
import type { Stack } from "./stack.js";
import { createTracker, type TrackerResult } from "./tracker.js";
import { measureUnaryBaseline, type UnaryBaseline, type UnaryCall } from "./unary-baseline.js";
import type { WebhookEndpoint } from "./webhook-endpoint.js";

/** One server process, fresh database and bus namespace, one load: the unit every mode runs. */
export interface PhaseResult {
  name: string;
  webhook: boolean;
  load: TrackerResult;
  /** Sends due but held back by the concurrency bound (fixed-rate modes). */
  maxBacklog: number;
  streamFailures: number;
  firstStreamFailure: string | undefined;
  /** Server RSS: maximum sampled every 250 ms, and the kernel's high-water mark. */
  serverRssMaxMb: number;
  serverRssPeakMb: number | undefined;
  /** CPU during the measurement window, % of one core per process. */
  cpuPct: Record<string, number>;
  /** Server CPU (user + system) in the window per message acked in it, ms: send + live delivery. */
  serverCpuMsPerMessage: number;
  /** Trivial unary calls measured on the same server and client just before the sends. */
  unary: UnaryBaseline[];
  webhookRequests: number | undefined;
  /** Store commands per message acked in the window (driver command monitoring); MongoDB only. */
  storeCommands: StoreCommandsPerMessage | undefined;
  /** NATS messages the server sent and received in the window per acked message. */
  busMessages: { sentPerMessage: number; receivedPerMessage: number } | undefined;
}

export interface StoreCommandsPerMessage {
  /** Per message acked in the window. */
  perMessage: number;
  writesPerMessage: number;
  /** Per send started in the window (failed sends cost commands too). */
  perSend: number;
  writesPerSend: number;
  /** Per acked message, by command name, most frequent first. */
  byCommand: Record<string, number>;
}

export interface PhaseContext {
  options: C2cOptions;
  stack: Stack;
  app: BenchApp;
  /** Unique per run, so phases never share a database or stream names. */
  tag: string;
  log: (line: string) => void;
  /** Registers cleanup for an abort (signal or watchdog). */
  onAbort: (cleanup: () => Promise<void>) => () => void;
}

// Long enough for a FerretDB-backed server to clear a backlog, short enough to end the run.
const DRAIN_TIMEOUT_MS = 15_000;

export async function runPhase(
  ctx: PhaseContext,
  phase: {
    name: string;
    webhook: WebhookEndpoint | undefined;
    /** Trivial calls measured first, at `rate` (open loop) when there is one. */
    unary?: readonly UnaryCall[];
    /** Messages/s, open loop; default: the options' (closed loop when unset). */
    rate?: number;
  },
): Promise<PhaseResult> {
  const { options, stack, app } = ctx;
  const suffix = `${ctx.tag}_${phase.name.replace(/[^a-z0-9]/g, "")}`;
  ctx.log(`[${phase.name}] starting server`);
  const server = await startServerProcess({
    app,
    port: await freePort(),
    mongo:
      options.store === "memory" ? undefined : { url: stack.mongoUrl, database: `bench_${suffix}` },
    natsUrl: stack.natsUrl,
    namespace: `bench_${suffix}`,
    webhook:
      phase.webhook === undefined ? undefined : { url: phase.webhook.url, secret: "bench-secret" },
    cpuProfDir: options.cpuProfDir,
    // Bus message counts come on the same line, so every store asks for it.
    monitorStoreCommands: true,
    env: options.serverEnv,
  });
  const forget = ctx.onAbort(() => server.stop());
  try {
    const rss = sampleRss(server.pid);
    const pairs: Pair[] = Array.from({ length: options.pairs }, (_, i) => ({
      sender: `bs_${i}`,
      receiver: `br_${i}`,
    }));
    const headers = new Map<string, Record<string, string>>();
    for (const p of pairs) {
      headers.set(p.sender, authHeader(app, p.sender));
      headers.set(p.receiver, authHeader(app, p.receiver));
    }
    const headersOf = (userId: string) => headers.get(userId) ?? {};
    const senderTransports = createTransportPool(
      server.baseUrl,
      options.connections,
      options.protocol,
    );
    const receiverTransports = createTransportPool(
      server.baseUrl,
      options.connections,
      options.protocol,
    );
    const adminTransport = senderTransports[0];
    if (adminTransport === undefined) throw new Error("no transports");

    ctx.log(`[${phase.name}] importing ${pairs.length * 2} accounts`);
    await importAccounts(
      adminTransport,
      authHeader(app, app.adminUserId),
      pairs.flatMap((p) => [p.sender, p.receiver]),
    );
    const tracker = createTracker();
    let countsAtOpen: Promise<ServerCounts> | undefined;
    ctx.log(`[${phase.name}] opening ${pairs.length} live streams`);
    const receivers = await openReceivers({
      userIds: pairs.map((p) => p.receiver),
      headersOf,
      transports: receiverTransports,
      tracker,
      readyTimeoutMs: 60_000,
    });
    const unary: UnaryBaseline[] = [];
    const rate = phase.rate ?? options.rate;
    for (const call of phase.unary ?? []) {
      ctx.log(
        `[${phase.name}] unary baseline ${call}: ${options.warmupSec} s warm-up + ${options.durationSec} s measured, ${rate === undefined ? "closed loop" : `${rate}/s open loop, at most`} ${options.concurrency} outstanding`,
      );
      unary.push(
        await measureUnaryBaseline(call, {
          transports: senderTransports,
          headers: pairs.map((p) => headersOf(p.sender)),
          concurrency: options.concurrency,
          warmupMs: options.warmupSec * 1000,
          durationMs: options.durationSec * 1000,
          serverPid: server.pid,
          ...(rate === undefined ? {} : { rate }),
        }),
      );
    }
    let serverCpuAtOpen: { cpuSec: number | undefined; at: number } | undefined;
    const cpu = createCpuMeter({
      server: server.pid,
      ferretdb: stack.pids.ferretdb,
      nats: stack.pids.nats,
      bench: process.pid,
    });
    const requestsBefore = phase.webhook?.requests() ?? 0;
    ctx.log(
      `[${phase.name}] sending: ${options.warmupSec} s warm-up + ${options.durationSec} s measured, ` +
        (rate === undefined
          ? `closed loop, ${options.concurrency} outstanding`
          : `${rate} msg/s open loop, at most ${options.concurrency} outstanding`),
    );
    const load = await runLoad({
      pairs,
      headersOf,
      transports: senderTransports,
      tracker,
      warmupMs: options.warmupSec * 1000,
      durationMs: options.durationSec * 1000,
      rate,
      concurrency: options.concurrency,
      onWindowOpen: () => {
        cpu.mark();
        serverCpuAtOpen = { cpuSec: readCpuSeconds(server.pid), at: performance.now() };
        countsAtOpen = server.counts();
      },
    });
    const countsAtClose = countsAtOpen && (await server.counts());
    const cpuPct = cpu.read();
    const serverCpuAtClose = { cpuSec: readCpuSeconds(server.pid), at: performance.now() };
    const drainDeadline = performance.now() + DRAIN_TIMEOUT_MS;
    while (tracker.pendingDeliveries() > 0 && performance.now() < drainDeadline) await sleep(50);
    const webhookRequests =
      phase.webhook === undefined ? undefined : phase.webhook.requests() - requestsBefore;
    const rssStats = rss.stop();
    const peakKb = readPeakRssKb(server.pid);
    const streamFailures = receivers.failures();
    await receivers.close();
    const result = tracker.result();
    return {
      name: phase.name,
      webhook: phase.webhook !== undefined,
      load: result,
      ...(await countsPerMessage(countsAtOpen, countsAtClose, result.acked, result.attempted)),
      maxBacklog: load.maxBacklog,
      streamFailures: streamFailures.count,
      firstStreamFailure: streamFailures.first,
      serverRssMaxMb: rssStats.maxKb / 1024,
      serverRssPeakMb: peakKb === undefined ? undefined : peakKb / 1024,
      cpuPct,
      serverCpuMsPerMessage: cpuMsPerMessage(serverCpuAtOpen, serverCpuAtClose, result.ackedPerSec),
      unary,
      webhookRequests,
    };
  } finally {
    ctx.log(`[${phase.name}] stopping server`);
    await server.stop();
    forget();
  }
}

/**
 * Server CPU per message: the cores it used between window open and the read
 * (which follows the last acks by a moment) over the window's acked rate.
 */
function cpuMsPerMessage(
  open: { cpuSec: number | undefined; at: number } | undefined,
  close: { cpuSec: number | undefined; at: number },
  ackedPerSec: number,
): number {
  if (open?.cpuSec === undefined || close.cpuSec === undefined || ackedPerSec <= 0) {
    return Number.NaN;
  }
  const cores = (close.cpuSec - open.cpuSec) / ((close.at - open.at) / 1000);
  return (cores / ackedPerSec) * 1000;
}

/** The window's store commands and bus messages per message acked in it. */
async function countsPerMessage(
  atOpen: Promise<ServerCounts> | undefined,
  close: ServerCounts | undefined,
  acked: number,
  attempted: number,
): Promise<Pick<PhaseResult, "storeCommands" | "busMessages">> {
  const open = await atOpen;
  const per = (n: number) => (acked === 0 ? 0 : Math.round((n / acked) * 100) / 100);
  return {
    storeCommands:
      open?.commands !== undefined && close?.commands !== undefined
        ? perMessage(open.commands, close.commands, acked, attempted)
        : undefined,
    busMessages:
      open?.bus !== undefined && close?.bus !== undefined
        ? {
            sentPerMessage: per(close.bus.sent - open.bus.sent),
            receivedPerMessage: per(close.bus.received - open.bus.received),
          }
        : undefined,
  };
}

/** Commands sent during the window per message acked in it (sends still in flight at either edge blur it slightly). */
function perMessage(
  open: StoreCommandCounts,
  close: StoreCommandCounts,
  acked: number,
  attempted: number,
): StoreCommandsPerMessage {
  const ratio = (n: number, d: number) => (d === 0 ? 0 : Math.round((n / d) * 100) / 100);
  const per = (n: number) => ratio(n, acked);
  const byCommand = Object.entries(close.byCommand)
    .map(([name, n]) => [name, per(n - (open.byCommand[name] ?? 0))] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  return {
    perMessage: per(close.total - open.total),
    writesPerMessage: per(close.writes - open.writes),
    perSend: ratio(close.total - open.total, attempted),
    writesPerSend: ratio(close.writes - open.writes, attempted),
    byCommand: Object.fromEntries(byCommand),
  };
}
