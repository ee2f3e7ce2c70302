import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EventService, Platform, UserStatus } from "../src/gen/im/v1/events_pb.js";
import { PresenceService } from "../src/gen/im/v1/presence_pb.js";
import { freePort } from "../test/services/local-process.js";
import { importAccounts } from "./accounts.js";
import { authHeader, createBenchApp } from "./clients.js";
import { parseFlags, UsageError } from "./flags.js";
import { createLatencyRecorder, type LatencyRecorder, round, roundSummary } from "./latency.js";
import { createCpuMeter, readCpuSeconds } from "./proc-stats.js";
import { measureRawKv } from "./raw-kv.js";
import { type ServerProcess, startServerProcess } from "./server-process.js";
import { startStack } from "./stack.js";

/** SubscribeUserStatus calls in flight during set-up. */
const SUBSCRIBE_CONCURRENCY = 4;

export const PRESENCE_USAGE = `presence options:
  --users N         users going online, then offline (default 10000)
  --followers N     users following them, each following users*per/followers (default 100)
  --per N           followers per user (default 2; one on each node)
  --rate N          status changes per second offered, open loop (default 200)
  --streams-per-connection N  HTTP/2 streams per connection (default 100, the server's
                    H2_MAX_CONCURRENT_STREAMS default; a larger value is set on the servers)
  --store mongodb|memory  the servers' document store (default mongodb: one FerretDB;
                    memory: each node its own, the accounts imported into both)
  --rounds N        online/offline rounds (default 1); from the second on every open is
                    a reconnect, served by the caches the first round filled
  --cpu-prof DIR    write a V8 CPU profile of each server process to DIR
`;

export interface PresenceOptions {
  users: number;
  followers: number;
  per: number;
  rate: number;
  streamsPerConnection: number;
  store: "mongodb" | "memory";
  rounds: number;
  cpuProfDir: string | undefined;
}

export function parsePresenceOptions(argv: string[]): PresenceOptions {
  const { values, num } = parseFlags(argv, [
    "users",
    "followers",
    "per",
    "rate",
    "streams-per-connection",
    "store",
    "rounds",
    "cpu-prof",
  ]);
  const count = (name: string, fallback: number) =>
    Math.floor(num(name, fallback, 1, Number.MAX_SAFE_INTEGER));
  const store = values.get("store") ?? "mongodb";
  if (store !== "mongodb" && store !== "memory") {
    throw new UsageError(`--store must be mongodb or memory, got "${store}"`);
  }
  return {
    users: count("users", 10_000),
    followers: count("followers", 100),
    per: count("per", 2),
    rate: count("rate", 200),
    streamsPerConnection: count("streams-per-connection", 100),
    store,
    rounds: count("rounds", 1),
    cpuProfDir: values.get("cpu-prof"),
  };
}

export interface PresenceBenchContext {
  log(line: string): void;
  onAbort(cleanup: () => Promise<void>): () => void;
}

/** What one phase (everyone online, then everyone offline) measured. */
interface PhaseFigures {
  changes: number;
  expected: number;
  delivered: number;
  missing: number;
  seconds: number;
  propagationMs: ReturnType<LatencyRecorder["summary"]>;
  /** Online: from the client's Subscribe call to its Ready (the stream's own opening). */
  readyMs?: ReturnType<LatencyRecorder["summary"]>;
  /** Online: from the user's Ready to each follower's event (presence's own share). */
  sinceReadyMs?: ReturnType<LatencyRecorder["summary"]>;
  serverCpuMsPerChange: { nodeA: number; nodeB: number; both: number };
  natsCpuMsPerChange: number;
  loadGeneratorCpuMsPerChange: number;
  /** Store (FerretDB) commands per status change, both nodes, by command and by command and collection. */
  storeCommandsPerChange: Record<string, number>;
  storeCommandsPerChangeByTarget: Record<string, number>;
  /** NATS messages per status change, both nodes' clients (KV requests count one each way). */
  busMessagesPerChange: { sent: number; received: number };
  cpuPct: Record<string, number>;
}

/**
 * `npm run -s bench -- presence [options]`: N users (default 10,000) go online
 * (a Subscribe stream, platform Web) and then offline (the stream cancelled),
 * open loop at --rate changes per second, half on each of two server processes
 * sharing FerretDB and nats-server; F followers (their streams spread over both
 * nodes) follow them with SubscribeUserStatus, each user followed by --per of
 * them. Reports, per phase, the propagation time from the client's action
 * (stream opened / cancelled) to each follower reading the UserStatusChanged
 * event, the server CPU per status change (each node, from /proc), nats-server's,
 * and the load generator's own CPU.
 */
export async function runPresenceBench(
  options: PresenceOptions,
  ctx: PresenceBenchContext,
): Promise<{ json: Record<string, unknown>; summary: string }> {
  const { users, followers, per } = options;
  if ((users * per) % followers !== 0 || (users * per) / followers > 200) {
    throw new Error("users * per / followers must be a whole number of at most 200 (the cap)");
  }
  const app = createBenchApp();
  const stack = await startStack();
  const forgetStack = ctx.onAbort(() => stack.dispose());
  const servers: ServerProcess[] = [];
  const forgetServers = ctx.onAbort(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });
  try {
    ctx.log("raw KV baseline (get + update, 5 s)");
    const rawKv = await measureRawKv(stack.natsUrl, {
      durationMs: 5000,
      concurrency: 32,
      keys: 1000,
    });
    const tag = randomBytes(3).toString("hex");
    const env = {
      ACCOUNT_BATCH_MAX: "1000",
      // Many streams per connection keep the load generator's cost per stream down.
      H2_MAX_CONCURRENT_STREAMS: String(Math.max(100, options.streamsPerConnection)),
    };
    for (const _ of ["a", "b"]) {
      servers.push(
        await startServerProcess({
          app,
          port: await freePort(),
          mongo:
            options.store === "memory"
              ? undefined
              : { url: stack.mongoUrl, database: `bench_presence_${tag}` },
          natsUrl: stack.natsUrl,
          namespace: `bench_presence_${tag}`,
          env,
          cpuProfDir: options.cpuProfDir,
          monitorStoreCommands: true,
        }),
      );
    }
    const [nodeA, nodeB] = servers;
    if (nodeA === undefined || nodeB === undefined) throw new Error("servers missing");
    const targetIds = Array.from({ length: users }, (_, i) => `pu${i}`);
    const followerIds = Array.from({ length: followers }, (_, i) => `pf${i}`);
    ctx.log(`importing ${users + followers} accounts`);
    const importing = performance.now();
    // Each in-memory node has its own store: both need the accounts.
    for (const node of options.store === "memory" ? servers : [nodeA]) {
      await importAccounts(
        createGrpcTransport({ baseUrl: node.baseUrl }),
        authHeader(app, app.adminUserId),
        [...targetIds, ...followerIds],
        100,
      );
    }
    const importSeconds = round((performance.now() - importing) / 1000, 1);
    ctx.log(`imported in ${importSeconds} s`);
    const headers = new Map(
      [...targetIds, ...followerIds].map((u) => [u, authHeader(app, u)] as const),
    );
    const headersOf = (u: string) => headers.get(u) ?? {};
    const pools = servers.map((s) =>
      Array.from(
        { length: Math.ceil((users / 2 + followers) / (options.streamsPerConnection * 0.9)) },
        () => createGrpcTransport({ baseUrl: s.baseUrl }),
      ),
    );
    const transportOf = (node: number, i: number): Transport => {
      const pool = pools[node] ?? [];
      const t = pool[i % pool.length];
      if (t === undefined) throw new Error("no transport");
      return t;
    };

    // Who follows whom: user i by followers (i*per + k) % F, k < per; with per 2
    // and an even F, one follower on each node (follower j streams on node j % 2).
    const followersOf = (i: number) =>
      Array.from({ length: per }, (_, k) => (i * per + k) % followers);
    const following = followerIds.map(() => [] as string[]);
    targetIds.forEach((u, i) => {
      for (const f of followersOf(i)) following[f]?.push(u);
    });

    // key `${userId}:${status}` -> when the client acted, and how many followers heard.
    const actedAt = new Map<string, number>();
    const readyAt = new Map<string, number>();
    let sinceReady = createLatencyRecorder();
    let delivered = 0;
    let recorder = createLatencyRecorder();
    let unexpected = 0;
    let late = 0;
    let phaseStatus = UserStatus.ONLINE;
    let streamFailures = 0;
    let firstFailure: string | undefined;
    const followerAbort = new AbortController();
    setMaxListeners(0, followerAbort.signal);
    ctx.log(`opening ${followers} follower streams and subscribing`);
    const followerEnded: Promise<void>[] = [];
    await Promise.all(
      followerIds.map(async (f, j) => {
        const node = j % 2;
        const ready = new Promise<void>((resolve, reject) => {
          const stream = createClient(EventService, transportOf(node, j >> 1)).subscribe(
            { platform: Platform.WEB, deviceId: "bench-follower" },
            { headers: headersOf(f), signal: followerAbort.signal },
          );
          followerEnded.push(
            (async () => {
              try {
                for await (const r of stream) {
                  if (r.event.case === "ready") resolve();
                  if (r.event.case !== "userStatusChanged") continue;
                  const s = r.event.value.status;
                  const at = actedAt.get(`${s?.userId}:${s?.status}`);
                  // Late events of the previous phase (streams still opening) are not this one's.
                  if (s?.status !== phaseStatus) {
                    if (at !== undefined) late++;
                    continue;
                  }
                  if (at === undefined) {
                    unexpected++;
                    continue;
                  }
                  delivered++;
                  recorder.add(performance.now() - at);
                  const live = s?.status === UserStatus.ONLINE ? readyAt.get(s.userId) : undefined;
                  // The login is written after Ready is sent: an event may beat the Ready.
                  if (live !== undefined) sinceReady.add(performance.now() - live);
                }
              } catch (err) {
                if (followerAbort.signal.aborted) return;
                streamFailures++;
                firstFailure ??= `${f}: ${(err as Error).message}`;
                reject(err);
              }
            })(),
          );
        });
        await ready;
      }),
    );
    // A few at a time, as followers' logins would come: each call writes one
    // follower list per target and reads each target's status.
    const subscribeMs = createLatencyRecorder();
    let nextFollower = 0;
    const subscribing = performance.now();
    await Promise.all(
      Array.from({ length: SUBSCRIBE_CONCURRENCY }, async () => {
        for (let j = nextFollower++; j < followers; j = nextFollower++) {
          const t0 = performance.now();
          await createClient(PresenceService, transportOf(j % 2, j >> 1)).subscribeUserStatus(
            { userIds: following[j] ?? [] },
            { headers: headersOf(followerIds[j] ?? ""), timeoutMs: 300_000 },
          );
          subscribeMs.add(performance.now() - t0);
        }
      }),
    );
    const subscribe = {
      calls: followers,
      usersPerCall: (users * per) / followers,
      concurrency: SUBSCRIBE_CONCURRENCY,
      seconds: round((performance.now() - subscribing) / 1000, 1),
      ms: roundSummary(subscribeMs.summary()),
    };
    ctx.log(
      `${followers} SubscribeUserStatus calls of ${subscribe.usersPerCall} users in ${subscribe.seconds} s (p50 ${subscribe.ms.p50} ms)`,
    );

    const cpu = createCpuMeter({
      nodeA: nodeA.pid,
      nodeB: nodeB.pid,
      nats: stack.pids.nats,
      ferretdb: stack.pids.ferretdb,
      bench: process.pid,
    });
    let targetAborts = targetIds.map(() => new AbortController());
    const targetEnded: Promise<void>[] = [];
    let readyCount = 0;
    let readyLatency = createLatencyRecorder();

    const runPhase = async (name: string, act: (i: number) => void, status: UserStatus) => {
      delivered = 0;
      phaseStatus = status;
      recorder = createLatencyRecorder();
      const expected = users * per;
      const cpuBefore = {
        a: readCpuSeconds(nodeA.pid) ?? 0,
        b: readCpuSeconds(nodeB.pid) ?? 0,
        nats: stack.pids.nats === undefined ? 0 : (readCpuSeconds(stack.pids.nats) ?? 0),
        self: process.cpuUsage(),
      };
      const countsBefore = await Promise.all(servers.map((s) => s.counts()));
      cpu.mark();
      const start = performance.now();
      ctx.log(`${name}: ${users} users at ${options.rate}/s`);
      for (let i = 0; i < users; i++) {
        const due = start + (i * 1000) / options.rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        actedAt.set(`${targetIds[i]}:${status}`, performance.now());
        act(i);
      }
      const deadline = performance.now() + 120_000;
      let lastLog = performance.now();
      while (delivered < expected && performance.now() < deadline) {
        await sleep(20);
        if (performance.now() - lastLog > 5000) {
          lastLog = performance.now();
          ctx.log(`${name}: ${delivered}/${expected} delivered`);
        }
      }
      const seconds = (performance.now() - start) / 1000;
      const cpuPct = cpu.read();
      const a = (readCpuSeconds(nodeA.pid) ?? 0) - cpuBefore.a;
      const b = (readCpuSeconds(nodeB.pid) ?? 0) - cpuBefore.b;
      const nats =
        (stack.pids.nats === undefined ? 0 : (readCpuSeconds(stack.pids.nats) ?? 0)) -
        cpuBefore.nats;
      const self = process.cpuUsage(cpuBefore.self);
      const countsAfter = await Promise.all(servers.map((s) => s.counts()));
      const commands: Record<string, number> = {};
      const targets: Record<string, number> = {};
      const bus = { sent: 0, received: 0 };
      const add = (into: Record<string, number>, now: Record<string, number>, was = {}) => {
        for (const [k, v] of Object.entries(now)) {
          into[k] = (into[k] ?? 0) + v - ((was as Record<string, number>)[k] ?? 0);
        }
      };
      countsAfter.forEach((after, n) => {
        const before = countsBefore[n];
        const [c, b] = [after.commands, before?.commands];
        if (c !== undefined) {
          add(
            commands,
            { total: c.total, ...c.byCommand },
            b && { total: b.total, ...b.byCommand },
          );
          add(targets, c.byTarget, b?.byTarget);
        }
        bus.sent += (after.bus?.sent ?? 0) - (before?.bus?.sent ?? 0);
        bus.received += (after.bus?.received ?? 0) - (before?.bus?.received ?? 0);
      });
      const perChange = (counts: Record<string, number>) =>
        Object.fromEntries(
          Object.entries(counts)
            .filter(([, v]) => v > 0)
            .map(([k, v]) => [k, round(v / users, 2)]),
        );
      const msPer = (sec: number) => round((sec * 1000) / users, 3);
      const figures: PhaseFigures = {
        changes: users,
        expected,
        delivered,
        missing: expected - delivered,
        seconds: round(seconds, 1),
        propagationMs: roundSummary(recorder.summary()),
        serverCpuMsPerChange: { nodeA: msPer(a), nodeB: msPer(b), both: msPer(a + b) },
        natsCpuMsPerChange: msPer(nats),
        loadGeneratorCpuMsPerChange: msPer((self.user + self.system) / 1e6),
        cpuPct,
        storeCommandsPerChange: perChange(commands),
        storeCommandsPerChangeByTarget: perChange(targets),
        busMessagesPerChange: {
          sent: round(bus.sent / users, 2),
          received: round(bus.received / users, 2),
        },
      };
      return figures;
    };

    const open = (i: number) => {
      const u = targetIds[i] ?? "";
      const abort = targetAborts[i] ?? new AbortController();
      const stream = createClient(EventService, transportOf(i % 2, i >> 1)).subscribe(
        { platform: Platform.WEB, deviceId: "bench" },
        { headers: headersOf(u), signal: abort.signal },
      );
      targetEnded.push(
        (async () => {
          try {
            const calledAt = performance.now();
            for await (const r of stream) {
              if (r.event.case !== "ready") continue;
              readyCount++;
              readyAt.set(u, performance.now());
              readyLatency.add(performance.now() - calledAt);
            }
          } catch (err) {
            if (abort.signal.aborted) return;
            streamFailures++;
            firstFailure ??= `${u}: ${(err as Error).message}`;
          }
        })(),
      );
    };
    const rounds: { online: PhaseFigures; offline: PhaseFigures }[] = [];
    for (let r = 1; r <= options.rounds; r++) {
      readyCount = 0;
      readyLatency = createLatencyRecorder();
      sinceReady = createLatencyRecorder();
      readyAt.clear();
      targetAborts = targetIds.map(() => new AbortController());
      const online = await runPhase(`round ${r} online`, open, UserStatus.ONLINE);
      ctx.log(`round ${r} online: ${readyCount}/${users} streams ready, ${streamFailures} failed`);
      online.readyMs = roundSummary(readyLatency.summary());
      online.sinceReadyMs = roundSummary(sinceReady.summary());
      const offline = await runPhase(
        `round ${r} offline`,
        (i) => targetAborts[i]?.abort(),
        UserStatus.OFFLINE,
      );
      rounds.push({ online, offline });
    }
    followerAbort.abort();
    await Promise.allSettled([...followerEnded, ...targetEnded]);

    const json = {
      scenario: "presence",
      store: options.store,
      bus: "nats",
      nodes: 2,
      users,
      followers,
      followersPerUser: per,
      rate: options.rate,
      streamsPerConnection: options.streamsPerConnection,
      connectionsPerNode: pools[0]?.length ?? 0,
      streamFailures,
      firstFailure,
      unexpectedEvents: unexpected,
      lateEvents: late,
      loadAvg: loadavg().map((l) => round(l, 1)),
      rawKv,
      importSeconds,
      subscribe,
      rounds,
    };
    const line = (name: string, p: PhaseFigures) =>
      `${name}: ${p.delivered}/${p.expected} delivered in ${p.seconds} s, propagation p50 ${p.propagationMs.p50} / p99 ${p.propagationMs.p99} / max ${p.propagationMs.max} ms` +
      (p.readyMs === undefined
        ? "; "
        : ` (Subscribe→Ready p50 ${p.readyMs.p50} / p99 ${p.readyMs.p99} ms, Ready→follower p50 ${p.sinceReadyMs?.p50} / p99 ${p.sinceReadyMs?.p99} ms); `) +
      `server CPU ${p.serverCpuMsPerChange.both} ms per change (A ${p.serverCpuMsPerChange.nodeA}, B ${p.serverCpuMsPerChange.nodeB}), ` +
      `nats ${p.natsCpuMsPerChange} ms, load generator ${p.loadGeneratorCpuMsPerChange} ms; ` +
      `store commands per change ${JSON.stringify(p.storeCommandsPerChangeByTarget)}; ` +
      `bus messages per change sent ${p.busMessagesPerChange.sent} / received ${p.busMessagesPerChange.received}; CPU % ${JSON.stringify(p.cpuPct)}`;
    const summary = [
      `presence: ${users} users over 2 nodes (store ${options.store}), ${followers} followers (${per} per user), ${options.rate} changes/s offered; ` +
        `raw KV get+update ${rawKv.casPerSec}/s at ${rawKv.concurrency} outstanding, p50 ${rawKv.casP50Ms} ms alone`,
      `set-up: ${subscribe.calls} SubscribeUserStatus of ${subscribe.usersPerCall} users, ${subscribe.concurrency} at a time: ${subscribe.seconds} s, p50 ${subscribe.ms.p50} / p99 ${subscribe.ms.p99} ms`,
      ...rounds.flatMap((r, i) => [
        line(`round ${i + 1} online `, r.online),
        line(`round ${i + 1} offline`, r.offline),
      ]),
    ].join("\n");
    return { json, summary };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    forgetServers();
    await stack.dispose();
    forgetStack();
  }
}
