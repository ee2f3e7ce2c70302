import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { StoreCommandCounts } from "../src/storage/storage.js";
import { freePort, startFerretDb, startNatsCluster } from "../test/services/local-process.js";
import { importAccounts } from "./accounts.js";
import type { PhaseContext } from "./c2c-phase.js";
import { authHeader, type BenchApp, createBenchApp, createTransportPool } from "./clients.js";
import type { ClusterOptions } from "./cluster-options.js";
import { type GroupPhaseContext, runAtRate, settle } from "./group-phase.js";
import { createGroupSender } from "./group-sender.js";
import {
  type BenchGroup,
  createBenchGroup,
  GROUP_BENCH_SERVER_ENV,
  SETUP_BATCH,
  typeForSize,
  userIdsOf,
} from "./group-setup.js";
import type { GroupTracker, GroupTrackerResult } from "./group-tracker.js";
import { round, roundSummary } from "./latency.js";
import { createCpuMeter, findPidByArg } from "./proc-stats.js";
import {
  type Measured,
  measureJetStreamPublish,
  measureRawBaseline,
  type RawBaseline,
} from "./raw-baseline.js";
import { openReceivers } from "./receivers.js";
import { type Pair, runLoad } from "./senders.js";
import { type ServerProcess, startServerProcess } from "./server-process.js";
import { createTracker, type TrackerResult } from "./tracker.js";

/** Long enough for a FerretDB-backed cluster to clear a backlog, short enough to end the run. */
const DRAIN_TIMEOUT_MS = 20_000;

interface Nodes {
  servers: ServerProcess[];
  app: BenchApp;
  /** Every process whose CPU is read: node1..N, ferretdb, nats1..3, bench. */
  pids: Record<string, number | undefined>;
  log: (line: string) => void;
}

interface C2cAcross {
  perNode: TrackerResult[];
  /** Store commands per acked message, all nodes together. */
  commandsPerAcked: number;
  writesPerAcked: number;
  cpuPct: Record<string, number>;
  streamFailures: number;
}

interface GroupAcross {
  perNode: GroupTrackerResult[];
  cpuPct: Record<string, number>;
  maxBacklog: number;
}

export interface ClusterReport {
  json: Record<string, unknown>;
  summary: string;
}

/**
 * The scale-out benchmark (issue 17): FerretDB and a three-server nats-server
 * cluster, JetStream publish R1 and R3 on it, then N server processes on both,
 * loaded through every node at once: one-to-one, then group.
 */
export async function runCluster(
  options: ClusterOptions,
  hooks: Pick<PhaseContext, "log" | "onAbort">,
): Promise<ClusterReport> {
  const { log } = hooks;
  log("starting FerretDB and a three-server nats-server cluster (fresh data dirs)");
  const [ferret, cluster] = await Promise.all([startFerretDb(), startNatsCluster(3)]);
  const forgetStack = hooks.onAbort(async () => {
    await Promise.all([ferret.dispose(), cluster.dispose()]);
  });
  try {
    const baseline = {
      natsUrl: cluster.url,
      mongoUrl: ferret.url,
      durationMs: options.baselineSec * 1000,
      concurrency: 64,
    };
    log(`raw stack baseline on the cluster: publish R1, insertOne, $inc upsert, then publish R3`);
    const raw = await measureRawBaseline(baseline);
    const r3 = await measureJetStreamPublish(baseline, 3);
    const app = createBenchApp();
    const tag = randomBytes(3).toString("hex");
    const servers: ServerProcess[] = [];
    const forgetServers = hooks.onAbort(async () => {
      await Promise.all(servers.map((s) => s.stop()));
    });
    try {
      for (let j = 0; j < options.nodes; j++) {
        log(
          `starting node ${j + 1} of ${options.nodes} (NATS_STREAM_REPLICAS=${options.replicas})`,
        );
        servers.push(
          await startServerProcess({
            app,
            port: await freePort(),
            mongo: { url: ferret.url, database: `bench_cluster_${tag}` },
            natsUrl: cluster.url,
            namespace: `bench_cluster_${tag}`,
            monitorStoreCommands: true,
            env: {
              ...GROUP_BENCH_SERVER_ENV,
              NATS_STREAM_REPLICAS: String(options.replicas),
              ...options.serverEnv,
            },
          }),
        );
      }
      const pids: Record<string, number | undefined> = {
        ...Object.fromEntries(servers.map((s, j) => [`node${j + 1}`, s.pid])),
        ferretdb: findPidByArg(ferret.dataDir),
        ...Object.fromEntries(
          cluster.servers.map((s, i) => [`nats${i + 1}`, findPidByArg(s.dataDir)]),
        ),
        bench: process.pid,
      };
      const nodes: Nodes = { servers, app, pids, log };
      const c2c = await runC2cAcross(options, nodes);
      const group = await runGroupAcross(options, nodes);
      return report(options, raw, r3, c2c, group);
    } finally {
      log("stopping the nodes");
      await Promise.all(servers.map((s) => s.stop()));
      forgetServers();
    }
  } finally {
    log("stopping FerretDB and the nats-server cluster");
    await Promise.all([ferret.dispose(), cluster.dispose()]);
    forgetStack();
  }
}

/**
 * Closed loop, every node at once: pair i sends through node i mod N and is
 * received on the next node, so each delivery crosses nodes (over NATS) when N > 1.
 */
async function runC2cAcross(options: ClusterOptions, nodes: Nodes): Promise<C2cAcross> {
  const { servers, app, log } = nodes;
  const n = servers.length;
  const pairs: Pair[] = Array.from({ length: options.pairs }, (_, i) => ({
    sender: `cs_${i}`,
    receiver: `cr_${i}`,
  }));
  const headers = new Map(
    pairs.flatMap((p) => [p.sender, p.receiver]).map((u) => [u, authHeader(app, u)]),
  );
  const headersOf = (userId: string) => headers.get(userId) ?? {};
  const admin = createGrpcTransport({ baseUrl: servers[0]?.baseUrl ?? "" });
  log(`[c2c] importing ${pairs.length * 2} accounts`);
  await importAccounts(
    admin,
    authHeader(app, app.adminUserId),
    pairs.flatMap((p) => [p.sender, p.receiver]),
    SETUP_BATCH,
  );
  const senderPools = servers.map((s) =>
    createTransportPool(s.baseUrl, options.connections, "grpc"),
  );
  const streamPools = servers.map((s) =>
    createTransportPool(s.baseUrl, options.connections, "grpc"),
  );
  const byNode = servers.map((_, j) => pairs.filter((_, i) => i % n === j));
  const trackers = servers.map(() => createTracker());
  log(`[c2c] opening ${pairs.length} live streams, each on the node after its sender's`);
  const receivers = await Promise.all(
    byNode.map((ps, j) =>
      openReceivers({
        userIds: ps.map((p) => p.receiver),
        headersOf,
        transports: streamPools[(j + 1) % n] ?? [],
        tracker: trackers[j] ?? createTracker(),
        readyTimeoutMs: 120_000,
      }),
    ),
  );
  const cpu = createCpuMeter(nodes.pids);
  const opened: Promise<StoreCommandCounts>[] = [];
  log(
    `[c2c] sending through ${n} node(s): ${options.warmupSec} s warm-up + ${options.durationSec} s measured, closed loop`,
  );
  await Promise.all(
    byNode.map((ps, j) =>
      runLoad({
        pairs: ps,
        headersOf,
        transports: senderPools[j] ?? [],
        tracker: trackers[j] ?? createTracker(),
        warmupMs: options.warmupSec * 1000,
        durationMs: options.durationSec * 1000,
        rate: undefined,
        concurrency: Math.max(1, ps.length),
        onWindowOpen: () => {
          if (j === 0) cpu.mark();
          const server = servers[j];
          if (server !== undefined) opened[j] = server.storeCommands();
        },
      }),
    ),
  );
  const closed = await Promise.all(servers.map((s) => s.storeCommands()));
  const cpuPct = cpu.read();
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  while (trackers.some((t) => t.pendingDeliveries() > 0) && performance.now() < deadline) {
    await sleep(50);
  }
  const streamFailures = receivers.reduce((sum, r) => sum + r.failures().count, 0);
  await Promise.all(receivers.map((r) => r.close()));
  const perNode = trackers.map((t) => t.result());
  const open = await Promise.all(opened);
  const sum = (f: (c: StoreCommandCounts) => number) =>
    closed.reduce((s, c, j) => s + f(c) - (open[j] === undefined ? 0 : f(open[j])), 0);
  const acked = perNode.reduce((s, r) => s + r.acked, 0);
  return {
    perNode,
    commandsPerAcked: acked === 0 ? 0 : round(sum((c) => c.total) / acked, 2),
    writesPerAcked: acked === 0 ? 0 : round(sum((c) => c.writes) / acked, 2),
    cpuPct,
    streamFailures,
  };
}

/**
 * One group per node, owned by that node's sender and sent to through that
 * node at the same rate; every group has the same members, whose streams are
 * spread over the nodes (member k on node k mod N).
 */
async function runGroupAcross(options: ClusterOptions, nodes: Nodes): Promise<GroupAcross> {
  const { servers, app, log } = nodes;
  const n = servers.length;
  const members = userIdsOf("cm", options.groupMembers);
  const senders = servers.map((_, j) => `cg_${j}`);
  const headers = new Map([...members, ...senders].map((u) => [u, authHeader(app, u)]));
  const headersOf = (userId: string) => headers.get(userId) ?? {};
  const adminHeaders = authHeader(app, app.adminUserId);
  const admin = createGrpcTransport({ baseUrl: servers[0]?.baseUrl ?? "" });
  log(`[group] importing ${members.length + senders.length} accounts`);
  await importAccounts(admin, adminHeaders, [...members, ...senders], SETUP_BATCH);
  // Transport t serves node t mod N, so member k's stream (on transport k mod the
  // pool size) is on node k mod N.
  const pools = servers.map((s) => createTransportPool(s.baseUrl, options.connections, "grpc"));
  const interleaved: Transport[] = [];
  for (let k = 0; k < options.connections; k++) {
    for (const pool of pools) {
      const t = pool[k];
      if (t !== undefined) interleaved.push(t);
    }
  }
  const current: (GroupTracker | undefined)[] = servers.map(() => undefined);
  // Ids are "n<node>.<k>": a delivery goes to the tracker of the node it was sent through.
  const nodeOf = (id: string) => Number(id.slice(1, id.indexOf(".")));
  log(`[group] opening ${members.length} live streams over ${n} node(s)`);
  const receivers = await openReceivers({
    userIds: members,
    headersOf,
    transports: interleaved,
    tracker: { delivered: (id) => current[nodeOf(id)]?.delivered(id) },
    // A first open reads the user's memberships, which FerretDB scans for: slow when loaded.
    readyTimeoutMs: 300_000,
  });
  try {
    const groups: BenchGroup[] = [];
    for (const [j, owner] of senders.entries()) {
      groups.push(
        await createBenchGroup({
          transport: admin,
          adminHeaders,
          groupId: `bench-cluster-${j}`,
          type: typeForSize(members.length),
          ownerId: owner,
          memberIds: members,
        }),
      );
    }
    const contexts: GroupPhaseContext[] = servers.map((server, j) => ({
      sender: createGroupSender({
        transport: createGrpcTransport({ baseUrl: server.baseUrl }),
        headers: headersOf(senders[j] ?? ""),
        tracker: () => {
          const t = current[j];
          if (t === undefined) throw new Error("no phase is running");
          return t;
        },
      }),
      track: (tracker) => {
        current[j] = tracker;
      },
      pids: nodes.pids,
      serverPid: server.pid,
      log,
    }));
    const first = contexts[0];
    if (first === undefined) throw new Error("no nodes");
    // The one-to-one phase's backlog (fan-out, lists) must not run into this one.
    const waited = await settle({
      ...first,
      pids: { server: servers[0]?.pid, ferretdb: nodes.pids.ferretdb },
    });
    log(
      `[group] settled in ${round(waited)} s; sending ${options.groupRate} msg/s to each of ${n} group(s) of ${members.length}: ${options.warmupSec} s warm-up + ${options.durationSec} s measured`,
    );
    const results = await Promise.all(
      contexts.map((ctx, j) => {
        const group = groups[j];
        if (group === undefined) throw new Error("no group");
        return runAtRate(ctx, group, {
          label: `n${j}`,
          rate: options.groupRate,
          warmupSec: options.warmupSec,
          durationSec: options.durationSec,
          expected: members.length,
          window: options.groupWindow,
        });
      }),
    );
    return {
      perNode: results.map((r) => r.result),
      // Every phase read the same processes over the same time; the first node's is the run's.
      cpuPct: results[0]?.cpuPct ?? {},
      maxBacklog: Math.max(...results.map((r) => r.maxBacklog)),
    };
  } finally {
    await receivers.close();
  }
}

function report(
  options: ClusterOptions,
  raw: RawBaseline,
  r3: Measured,
  c2c: C2cAcross,
  group: GroupAcross,
): ClusterReport {
  const total = (f: (r: TrackerResult) => number) => c2c.perNode.reduce((s, r) => s + f(r), 0);
  const gTotal = (f: (r: GroupTrackerResult) => number) =>
    group.perNode.reduce((s, r) => s + f(r), 0);
  const r3PublishPerSec = r3.throughput.perSec;
  const c2cAcked = total((r) => r.ackedPerSec);
  const c2cDelivered = total((r) => r.deliveredPerSec);
  const groupAccepted = gTotal((r) => r.accepted / r.windowSec);
  const groupDeliveries = gTotal((r) => r.deliveriesPerSec);
  const json = {
    bench: "cluster",
    at: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      node: process.version,
      store: "FerretDB 1.24 (SQLite)",
      bus: "three nats-server 2.10 (JetStream, file), one cluster on loopback",
      loadAvg1: round(loadavg()[0] ?? Number.NaN, 2),
    },
    config: options,
    replication: {
      publishR1PerSec: round(raw.jetstreamPublishPerSec),
      publishR3PerSec: round(r3PublishPerSec),
      r3VsR1: round(r3PublishPerSec / raw.jetstreamPublishPerSec, 3),
      // One publish at a time: what a replica round costs a publish's latency.
      publishR1P50Ms: round(raw.jetstreamPublishP50Ms, 3),
      publishR3P50Ms: round(r3.sequential.latencyMs.p50, 3),
      concurrency: raw.concurrency,
    },
    raw: {
      insertPerSec: round(raw.insertPerSec),
      counterIncPerSec: round(raw.counterIncPerSec),
    },
    c2c: {
      ackedPerSec: round(c2cAcked),
      deliveredPerSec: round(c2cDelivered),
      ackedVsRawInsert: round(c2cAcked / raw.insertPerSec, 3),
      ackedVsRawCounterInc: round(c2cAcked / raw.counterIncPerSec, 3),
      storeCommandsPerAcked: c2c.commandsPerAcked,
      storeWritesPerAcked: c2c.writesPerAcked,
      streamFailures: c2c.streamFailures,
      cpuPctOfOneCore: c2c.cpuPct,
      perNode: c2c.perNode.map((r) => ({
        ackedPerSec: round(r.ackedPerSec),
        deliveredPerSec: round(r.deliveredPerSec),
        acked: r.acked,
        failed: r.failed,
        failures: r.failures,
        undelivered: r.undelivered,
        duplicates: r.duplicates,
        sendToAckMs: roundSummary(r.sendToAckMs),
        sendToDeliverMs: roundSummary(r.sendToDeliverMs),
      })),
    },
    group: {
      acceptedPerSec: round(groupAccepted),
      deliveriesPerSec: round(groupDeliveries),
      deliveriesVsRawPublishR3: round(groupDeliveries / r3PublishPerSec, 3),
      maxBacklog: group.maxBacklog,
      cpuPctOfOneCore: group.cpuPct,
      perNode: group.perNode.map((r) => ({
        sent: r.sent,
        accepted: r.accepted,
        acceptedPerSec: round(r.accepted / r.windowSec),
        failed: r.failed,
        failures: r.failures,
        deliveriesPerSec: round(r.deliveriesPerSec),
        incompleteMessages: r.incompleteMessages,
        missingDeliveries: r.missingDeliveries,
        extraDeliveries: r.extraDeliveries,
        sendToAckMs: roundSummary(r.sendToAckMs),
        sendToLastMs: roundSummary(r.sendToLastMs),
      })),
    },
  };
  const ms = (v: number) => (Number.isFinite(v) ? String(round(v, 1)) : "n/a");
  const cpu = (pct: Record<string, number>) =>
    Object.entries(pct)
      .map(([k, v]) => `${k} ${v}%`)
      .join(", ");
  const lines = [
    `cluster: ${options.nodes} node(s), NATS_STREAM_REPLICAS=${options.replicas}, 3 nats-servers, FerretDB; ${options.durationSec} s measured per phase`,
    `  replication       JetStream publish R1 ${round(raw.jetstreamPublishPerSec)}/s, R3 ${round(r3PublishPerSec)}/s (R3/R1 ${json.replication.r3VsR1}) with ${raw.concurrency} outstanding; one at a time p50 R1 ${json.replication.publishR1P50Ms} ms, R3 ${json.replication.publishR3P50Ms} ms`,
    `  raw store         insertOne ${round(raw.insertPerSec)}/s, $inc upsert ${round(raw.counterIncPerSec)}/s`,
    `  c2c total         ${round(c2cAcked)} acked/s, ${round(c2cDelivered)} delivered/s (acked/raw insert ${json.c2c.ackedVsRawInsert}); ${c2c.commandsPerAcked} store commands, ${c2c.writesPerAcked} writes per acked`,
    ...c2c.perNode.map(
      (r, j) =>
        `    node ${j + 1}          ${round(r.ackedPerSec)} acked/s, ${round(r.deliveredPerSec)} delivered/s, ${r.failed} failed, ${r.undelivered} undelivered, ${r.duplicates} duplicate; send->ack p50 ${ms(r.sendToAckMs.p50)} / p99 ${ms(r.sendToAckMs.p99)} ms, send->deliver p50 ${ms(r.sendToDeliverMs.p50)} / p99 ${ms(r.sendToDeliverMs.p99)} ms`,
    ),
    `    CPU (% of a core) ${cpu(c2c.cpuPct)}`,
    `  group total       ${round(groupAccepted)} accepted/s, ${round(groupDeliveries)} deliveries/s (${options.groupMembers} members, ${options.groupRate}/s asked per node)`,
    ...group.perNode.map(
      (r, j) =>
        `    node ${j + 1}          ${round(r.accepted / r.windowSec)} accepted/s, ${round(r.deliveriesPerSec)} deliveries/s, ${r.failed} failed, ${r.incompleteMessages} incomplete (${r.missingDeliveries} missing), ${r.extraDeliveries} extra; send->last p50 ${ms(r.sendToLastMs.p50)} / p99 ${ms(r.sendToLastMs.p99)} ms`,
    ),
    `    CPU (% of a core) ${cpu(group.cpuPct)}`,
  ];
  return { json, summary: lines.join("\n") };
}
