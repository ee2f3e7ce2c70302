import { setTimeout as sleep } from "node:timers/promises";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "../../src/bus/bus.js";
import { BusReplicasError } from "../../src/bus/errors.js";
import { openNatsBus } from "../../src/bus/nats-bus.js";
import type { BusSettings } from "../../src/bus/registry.js";
import { silentLogger } from "../../src/log/logger.js";
import { type NatsCluster, startNatsCluster, testNatsUrl, uniqueName } from "../services/index.js";
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
