import { createClient, type Transport } from "@connectrpc/connect";
import { AccountService } from "../src/gen/im/v1/account_pb.js";
import { EventService } from "../src/gen/im/v1/events_pb.js";
import { GroupService, GroupType } from "../src/gen/im/v1/group_pb.js";
import { ReceiptService } from "../src/gen/im/v1/receipts_pb.js";
import type { StoreCommandCounts } from "../src/storage/storage.js";
import { freePort } from "../test/services/local-process.js";
import { authHeader, createBenchApp, createTransportPool } from "./clients.js";
import { parseFlags, UsageError } from "./flags.js";
import { createBenchGroup, GROUP_BENCH_SERVER_ENV, SETUP_BATCH, userIdsOf } from "./group-setup.js";
import { readCpuSeconds } from "./proc-stats.js";
import { startServerProcess } from "./server-process.js";
import { startStack } from "./stack.js";

export const READ_RECEIPTS_USAGE = `read-receipts [--members N] [--within-sec S] [--window-ms W] [--store ferretdb|memory]
  One Community group of N members (default 10,000) on FerretDB (or the in-memory
  store) + nats-server, the server in its own process. The owner sends a message; every member reads it
  (MarkGroupRead) within S seconds (default 10), paced evenly. Phase "plain": a
  message without read receipts (the raw cost of N reads, the same run's baseline);
  phase "receipts": one with need_read_receipt. Reports per phase the server's CPU
  seconds, store commands, read latency, and for receipts the group_receipt events
  the sender's stream got (RECEIPT_GROUP_EVENT_MS = W, default 500).
`;

/** Reads in flight at once: enough to keep the pace, bounded so a slow server queues here. */
const MAX_IN_FLIGHT = 256;

interface PhaseResult {
  phase: "plain" | "receipts";
  reads: number;
  failed: number;
  /** Failed reads by Connect code. */
  failures: Record<string, number>;
  /** From the first read sent to the last answered. */
  durationMs: number;
  readMs: { p50: number; p99: number; max: number };
  serverCpuSec: number;
  /** FerretDB's CPU seconds (0 on the in-memory store). */
  storeCpuSec: number;
  storeCommands: number;
  storeWrites: number;
  byCommand: Record<string, number>;
}

export interface ReadReceiptsOptions {
  members: number;
  withinMs: number;
  windowMs: number;
  onMongo: boolean;
}

export function parseReadReceiptsOptions(argv: string[]): ReadReceiptsOptions {
  const { values, num } = parseFlags(argv, ["members", "within-sec", "window-ms", "store"]);
  const store = values.get("store") ?? "ferretdb";
  if (store !== "ferretdb" && store !== "memory") {
    throw new UsageError(`--store must be ferretdb or memory, got "${store}"`);
  }
  return {
    members: Math.floor(num("members", 10_000, 1, 1_000_000)),
    withinMs: num("within-sec", 10, 0.001, 3600) * 1000,
    windowMs: Math.floor(num("window-ms", 500, 0, 600_000)),
    onMongo: store === "ferretdb",
  };
}

export async function runReadReceipts(options: ReadReceiptsOptions): Promise<void> {
  const { members, withinMs, windowMs, onMongo } = options;
  const log = (line: string) => process.stderr.write(`bench read-receipts: ${line}\n`);

  const app = createBenchApp();
  const stack = await startStack();
  const server = await startServerProcess({
    app,
    port: await freePort(),
    mongo: onMongo ? { url: stack.mongoUrl, database: "bench_receipts" } : undefined,
    natsUrl: stack.natsUrl,
    namespace: "bench",
    monitorStoreCommands: onMongo,
    env: { ...GROUP_BENCH_SERVER_ENV, RECEIPT_GROUP_EVENT_MS: String(windowMs) },
  }).catch(async (err: unknown) => {
    await stack.dispose();
    throw err;
  });
  const streamAbort = new AbortController();
  try {
    const transports = createTransportPool(server.baseUrl, 8, "connect");
    const [adminTransport] = transports as [Transport];
    const adminHeaders = authHeader(app, app.adminUserId);
    const owner = "owner";
    const ids = userIdsOf("m", members);
    const accounts = createClient(AccountService, adminTransport);
    const setupStart = Date.now();
    for (let i = 0; i < ids.length; i += SETUP_BATCH) {
      await accounts.importAccounts(
        { accounts: ids.slice(i, i + SETUP_BATCH).map((userId) => ({ userId })) },
        { headers: adminHeaders, timeoutMs: 120_000 },
      );
    }
    await accounts.importAccounts({ accounts: [{ userId: owner }] }, { headers: adminHeaders });
    const { groupId } = await createBenchGroup({
      transport: adminTransport,
      adminHeaders,
      groupId: "bench_receipts",
      type: GroupType.COMMUNITY,
      ownerId: owner,
      memberIds: ids,
    });
    const headers = new Map(ids.map((u) => [u, authHeader(app, u)]));
    log(`${members} members set up in ${((Date.now() - setupStart) / 1000).toFixed(1)} s`);

    // The sender's device: counts the events the sender gets.
    const ownerHeaders = authHeader(app, owner);
    const receiptEvents: { key: string; count: number; atMs: number }[] = [];
    let ready: () => void = () => {};
    const isReady = new Promise<void>((r) => {
      ready = r;
    });
    void (async () => {
      try {
        for await (const e of createClient(EventService, adminTransport).subscribe(
          { deviceId: "bench" },
          { headers: ownerHeaders, signal: streamAbort.signal },
        )) {
          if (e.event.case === "ready") ready();
          if (e.event.case === "groupReceipt") {
            receiptEvents.push({
              key: e.event.value.messageKey,
              count: e.event.value.readCount,
              atMs: Date.now(),
            });
          }
        }
      } catch {
        // Ended by the bench.
      }
    })();
    await isReady;

    const groups = transports.map((t) => createClient(GroupService, t));
    const phase = async (name: PhaseResult["phase"]) => {
      const sent = await (groups[0] as (typeof groups)[number]).sendGroupMessage(
        {
          groupId,
          body: [{ element: { case: "text", value: { text: name } } }],
          needReadReceipt: name === "receipts",
        },
        { headers: ownerHeaders },
      );
      const commands = async () => (onMongo ? await server.storeCommands() : NO_COUNTS);
      const before = await commands();
      const cpuBefore = readCpuSeconds(server.pid) ?? 0;
      const ferretPid = onMongo ? stack.pids.ferretdb : undefined;
      const storeCpuBefore = ferretPid === undefined ? 0 : (readCpuSeconds(ferretPid) ?? 0);
      const latencies: number[] = [];
      let failed = 0;
      const failures: Record<string, number> = {};
      let inFlight = 0;
      let wake: (() => void) | undefined;
      const start = performance.now();
      const pending: Promise<void>[] = [];
      for (const [i, u] of ids.entries()) {
        const due = start + (i * withinMs) / ids.length;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        while (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((r) => (wake = r));
        inFlight++;
        const t = performance.now();
        pending.push(
          (groups[i % groups.length] as (typeof groups)[number])
            .markGroupRead(
              { groupId, readSeq: sent.seq },
              { headers: headers.get(u), timeoutMs: 60_000 },
            )
            .then(
              () => {
                latencies.push(performance.now() - t);
              },
              (err: unknown) => {
                failed++;
                const code = String((err as { code?: unknown }).code ?? "unknown");
                failures[code] = (failures[code] ?? 0) + 1;
              },
            )
            .finally(() => {
              inFlight--;
              wake?.();
              wake = undefined;
            }),
        );
      }
      await Promise.all(pending);
      const durationMs = performance.now() - start;
      const cpu = (readCpuSeconds(server.pid) ?? 0) - cpuBefore;
      const storeCpu =
        ferretPid === undefined ? 0 : (readCpuSeconds(ferretPid) ?? 0) - storeCpuBefore;
      const after = await commands();
      latencies.sort((x, y) => x - y);
      const pct = (p: number) =>
        Math.round(
          latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0,
        );
      const result: PhaseResult = {
        phase: name,
        reads: ids.length,
        failed,
        failures,
        durationMs: Math.round(durationMs),
        readMs: { p50: pct(0.5), p99: pct(0.99), max: Math.round(latencies.at(-1) ?? 0) },
        serverCpuSec: Number(cpu.toFixed(2)),
        storeCpuSec: Number(storeCpu.toFixed(2)),
        ...commandDelta(before, after),
      };
      return { result, sent, endedAtMs: Date.now() };
    };

    const plain = await phase("plain");
    // Failed reads: what the server said about them.
    const failuresLogged = () =>
      server
        .logTail()
        .split("\n")
        .filter((l) => l.includes('"level":"error"') || l.includes('"level":"warn"'))
        .slice(-5)
        .join("\n");
    if (plain.result.failed > 0) log(`server errors:\n${failuresLogged()}`);
    log(summary(plain.result));
    const receipts = await phase("receipts");
    // The last coalesced event carries the full count: wait for it (hang guard: 60 s).
    const key = receipts.sent.messageKey;
    const deadline = Date.now() + 60_000;
    const full = () => receiptEvents.some((e) => e.key === key && e.count >= members);
    while (!full() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const events = receiptEvents.filter((e) => e.key === key);
    const stored = await createClient(ReceiptService, adminTransport).getGroupReceipts(
      { groupId, seqs: [receipts.sent.seq] },
      { headers: ownerHeaders },
    );
    log(summary(receipts.result));
    if (receipts.result.failed > 0) log(`server errors:\n${failuresLogged()}`);
    const report = {
      scenario: "read-receipts",
      store: onMongo ? "mongodb (FerretDB)" : "memory",
      bus: "nats",
      members,
      withinMs,
      eventWindowMs: windowMs,
      plain: plain.result,
      receipts: {
        ...receipts.result,
        readCount: stored.receipts[0]?.readCount ?? 0,
        eventsToSender: events.length,
        lastEventCount: events.at(-1)?.count ?? 0,
        // Negative: the full count arrived before the last read's answer did.
        fullCountEventAfterLastReadMs: ((at) =>
          at === undefined ? null : at - receipts.endedAtMs)(
          events.find((e) => e.count >= members)?.atMs,
        ),
      },
      receiptOverhead: {
        cpuRatio: ratio(receipts.result.serverCpuSec, plain.result.serverCpuSec),
        storeCommandRatio: ratio(receipts.result.storeCommands, plain.result.storeCommands),
      },
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    log(
      `receipts: read count ${report.receipts.readCount}/${members}; ${events.length} group_receipt events to the sender (last count ${report.receipts.lastEventCount}); CPU x${report.receiptOverhead.cpuRatio}, store commands x${report.receiptOverhead.storeCommandRatio} of plain reads`,
    );
  } catch (err) {
    log(`failed: ${(err as Error).message}\n--- server log tail ---\n${server.logTail()}`);
    throw err;
  } finally {
    streamAbort.abort();
    await server.stop();
    await stack.dispose();
  }
}

/** The in-memory store sends no commands. */
const NO_COUNTS: StoreCommandCounts = {
  total: 0,
  writes: 0,
  byCommand: {},
  byTarget: {},
  msByTarget: {},
};

function commandDelta(before: StoreCommandCounts, after: StoreCommandCounts) {
  const byCommand: Record<string, number> = {};
  for (const [name, n] of Object.entries(after.byCommand)) {
    const d = n - (before.byCommand[name] ?? 0);
    if (d > 0) byCommand[name] = d;
  }
  return {
    storeCommands: after.total - before.total,
    storeWrites: after.writes - before.writes,
    byCommand,
  };
}

const ratio = (a: number, b: number) => (b === 0 ? null : Number((a / b).toFixed(2)));

const summary = (r: PhaseResult) =>
  `${r.phase}: ${r.reads - r.failed}/${r.reads} reads in ${(r.durationMs / 1000).toFixed(1)} s (p50 ${r.readMs.p50} ms, p99 ${r.readMs.p99} ms), server CPU ${r.serverCpuSec} s, FerretDB CPU ${r.storeCpuSec} s, ${r.storeCommands} store commands (${r.storeWrites} writes) ${JSON.stringify(r.byCommand)}`;
