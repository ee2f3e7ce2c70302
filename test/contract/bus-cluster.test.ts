import { setTimeout as sleep } from "node:timers/promises";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "../../src/bus/bus.js";
import { BusReplicasError, BusUnavailableError } from "../../src/bus/errors.js";
import { openNatsBus } from "../../src/bus/nats-bus.js";
import type { BusSettings } from "../../src/bus/registry.js";
import { silentLogger } from "../../src/log/logger.js";
import { type NatsCluster, startNatsCluster, testNatsUrl, uniqueName } from "../services/index.js";
import { eventually as retried } from "../support/eventually.js";
import { eventually, fastSettings } from "./bus-contract.js";

const enc = (s: string) => new TextEncoder().encode(s);

/** Publishes until the bus takes it (a leader election refuses publishes for a few seconds). */
async function publishRetrying(bus: Bus, msgId: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await bus.publish(bus.registry.subjects.c2cMessage, enc(msgId), { msgId });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

describe("stream replicas on a single nats-server", () => {
  it("refuses more than one replica at start, naming the setting, and creates nothing", async () => {
    const ns = uniqueName("bus_r3_single");
    const error = await openNatsBus({
      url: testNatsUrl(),
      namespace: ns,
      logger: silentLogger,
      settings: { streamReplicas: 3 },
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BusReplicasError);
    expect((error as Error).message).toMatch(/NATS_STREAM_REPLICAS.*single server/);
    const nc = await connect({ servers: testNatsUrl() });
    try {
      const jsm = await jetstreamManager(nc);
      await expect(jsm.streams.info(`${ns}-messages`)).rejects.toThrow(/stream not found/);
    } finally {
      await nc.close();
    }
  });
});

describe("KV bucket and counter replicas on a single nats-server", () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const buses: Bus[] = [];
  beforeAll(async () => {
    nc = await connect({ servers: testNatsUrl() });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
    await nc?.close();
  });
  const open = async (namespace: string, streamReplicasOf: BusSettings["streamReplicasOf"]) => {
    const bus = await openNatsBus({
      url: testNatsUrl(),
      namespace,
      logger: silentLogger,
      settings: { ...fastSettings, streamReplicasOf },
    });
    buses.push(bus);
    return bus;
  };
  const replicasOf = async (stream: string) => (await jsm.streams.info(stream)).config.num_replicas;

  it("keeps R1 at R1 and refuses R3, naming the class's setting, leaving bucket and stream as they were", async () => {
    const ns = uniqueName("bus_kv_single");
    const bucket = `KV_${ns}-presence`;
    const counters = `${ns}-counters`;
    const one = await open(ns, { kv: 1, counters: 1 });
    await one.openKv("presence", { ttlMs: 60_000 });
    expect(await one.counters.increment("send", "u1", 60_000, Date.now())).toBe(1);
    expect([await replicasOf(bucket), await replicasOf(counters)]).toEqual([1, 1]);
    const again = await open(ns, { kv: 1, counters: 1 });
    await again.openKv("presence", { ttlMs: 60_000 });

    // The counter stream is reconciled at start: R3 stops it.
    const refused = await open(ns, { counters: 3 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(BusReplicasError);
    expect((refused as Error).message).toMatch(/NATS_STREAM_REPLICAS_COUNTERS.*single server/);

    // A bucket is checked when opened, existing or new.
    const kv3 = await open(ns, { kv: 3 });
    for (const name of ["presence", "presence-new"]) {
      const error = await kv3.openKv(name, { ttlMs: 60_000 }).catch((err: unknown) => err);
      expect(error, name).toBeInstanceOf(BusReplicasError);
      expect((error as Error).message).toMatch(/NATS_STREAM_REPLICAS_KV.*single server/);
    }
    expect([await replicasOf(bucket), await replicasOf(counters)]).toEqual([1, 1]);
    await expect(jsm.streams.info(`KV_${ns}-presence-new`)).rejects.toThrow(/stream not found/);
  });
});

describe("a three-server NATS cluster", () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const buses: Bus[] = [];
  beforeAll(async () => {
    cluster = await startNatsCluster(3);
    nc = await connect({ servers: cluster.url.split(","), maxReconnectAttempts: -1 });
    jsm = await jetstreamManager(nc);
  }, 90_000);
  afterAll(async () => {
    await nc?.close();
    await cluster?.dispose();
  });
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });
  const open = async (namespace: string, settings: Partial<BusSettings>) => {
    const bus = await openNatsBus({
      url: cluster.url,
      namespace,
      logger: silentLogger,
      settings: { ...fastSettings, ...settings },
      publishTimeoutMs: 1_000,
    });
    buses.push(bus);
    return bus;
  };

  it("creates R3 streams whose consumers inherit the replicas, and applies replica changes", async () => {
    const ns = uniqueName("bus_r3");
    const stream = `${ns}-messages`;
    const first = await open(ns, { streamReplicas: 3 });
    expect(first.reconcileReport.streams[stream]).toBe("created");
    const created = await jsm.streams.info(stream);
    expect(created.config.num_replicas).toBe(3);
    expect(created.cluster?.replicas?.length).toBe(2);
    const consumer = await jsm.consumers.info(stream, `${ns}-fanout`);
    expect(consumer.cluster?.replicas?.length).toBe(2);

    // The per-class setting wins over the default; the change is applied, not ignored.
    const down = await open(ns, { streamReplicas: 3, streamReplicasOf: { messages: 1 } });
    expect(down.reconcileReport.streams[stream]).toBe("updated");
    expect((await jsm.streams.info(stream)).config.num_replicas).toBe(1);
    const up = await open(ns, { streamReplicas: 3 });
    expect(up.reconcileReport.streams[stream]).toBe("updated");
    expect((await jsm.streams.info(stream)).config.num_replicas).toBe(3);
    const same = await open(ns, { streamReplicas: 3 });
    expect(same.reconcileReport.streams[stream]).toBe("unchanged");

    const error = await open(ns, { streamReplicas: 5 }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BusReplicasError);
    expect((error as Error).message).toContain("3 server(s) are up");
    expect((await jsm.streams.info(stream)).config.num_replicas).toBe(3);
  });

  it("applies a replica change to KV buckets and the counter stream too, per class", async () => {
    const ns = uniqueName("bus_kv_r");
    const bucket = `KV_${ns}-presence`;
    const counters = `${ns}-counters`;
    const replicasOf = async (stream: string) =>
      (await jsm.streams.info(stream)).config.num_replicas;
    const use = async (replicas: number, of: BusSettings["streamReplicasOf"] = {}) => {
      const bus = await open(ns, { streamReplicas: replicas, streamReplicasOf: of });
      // Placing an R3 bucket on a loaded cluster can outlast the 1 s API timeout: try
      // again (opening is idempotent); a refused replica count is not retried.
      for (let attempt = 1; ; attempt++) {
        try {
          await bus.openKv("presence", { ttlMs: 60_000 });
          break;
        } catch (err) {
          if (!(err instanceof BusUnavailableError) || attempt === 10) throw err;
        }
      }
      // The first count after a scale-up can time out while the stream elects its leader.
      await retried(() => bus.counters.increment("send", "u1", 60_000, Date.now()));
    };
    await use(1);
    expect([await replicasOf(bucket), await replicasOf(counters)]).toEqual([1, 1]);
    await use(3);
    expect([await replicasOf(bucket), await replicasOf(counters)]).toEqual([3, 3]);
    // Each has its own class setting over the default.
    await use(3, { kv: 1 });
    expect([await replicasOf(bucket), await replicasOf(counters)]).toEqual([1, 3]);
    await use(1, { kv: 3, counters: 3 });
    expect([await replicasOf(bucket), await replicasOf(counters)]).toEqual([3, 3]);
    const error = await use(1, { kv: 5 }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BusReplicasError);
    expect((error as Error).message).toMatch(/NATS_STREAM_REPLICAS_KV.*3 server\(s\) are up/);
    expect(await replicasOf(bucket)).toBe(3);
  });

  it("keeps consuming when the consumer leader's server is killed -9, and recreates a deleted consumer", async () => {
    const ns = uniqueName("bus_leader");
    const stream = `${ns}-messages`;
    const durable = `${ns}-fanout`;
    const bus = await open(ns, { streamReplicas: 3 });
    const handled = new Set<string>();
    await bus.consume("fanout", async (e) => {
      handled.add(e.msgId ?? "");
    });
    await publishRetrying(bus, "before");
    await eventually("the first event", () => handled.has("before"));

    const leaderName = (await jsm.consumers.info(stream, durable)).cluster?.leader;
    const leader = cluster.servers.find((s) => cluster.nameOf(s) === leaderName);
    if (leader === undefined) throw new Error(`no server named ${leaderName}`);
    await leader.stop("SIGKILL");
    const killedAt = Date.now();
    await publishRetrying(bus, "after-kill");
    // Well inside nats.js's own recovery (two missed 15 s heartbeats) without our re-pull.
    await eventually("the event after the leader died", () => handled.has("after-kill"), 20_000);
    const recoveredMs = Date.now() - killedAt;
    await leader.restart();
    expect(recoveredMs).toBeLessThan(20_000);

    await jsm.consumers.delete(stream, durable);
    await publishRetrying(bus, "after-delete");
    await eventually(
      "the event after the consumer was deleted",
      () => handled.has("after-delete"),
      20_000,
    );
    expect((await jsm.consumers.info(stream, durable)).config.durable_name).toBe(durable);
  }, 90_000);
});
