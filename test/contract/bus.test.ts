import { connect as connectTcp, createServer, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import type { Bus, BusEvent } from "../../src/bus/bus.js";
import { BusUnavailableError } from "../../src/bus/errors.js";
import { createMemoryBus } from "../../src/bus/memory-bus.js";
import { createMemoryHub, type MemoryHub } from "../../src/bus/memory-hub.js";
import { openNatsBus } from "../../src/bus/nats-bus.js";
import { systemClock } from "../../src/common/clock.js";
import { silentLogger } from "../../src/log/logger.js";
import {
  freePort,
  type ServiceProcess,
  startNatsServer,
  testNatsUrl,
  uniqueName,
} from "../services/index.js";
import { describeBusContract, eventually, fastSettings, recordingLogger } from "./bus-contract.js";

const enc = (s: string) => new TextEncoder().encode(s);

// One hub per namespace: buses on it act as processes sharing one server.
const hubs = new Map<string, MemoryHub>();
describe("memory backend", () => {
  describeBusContract(
    "memory",
    async ({ namespace, settings, logger }) => {
      let hub = hubs.get(namespace);
      if (!hub) {
        hub = createMemoryHub();
        hubs.set(namespace, hub);
      }
      return createMemoryBus({
        namespace,
        settings,
        logger: logger ?? silentLogger,
        clock: systemClock,
        hub,
      });
    },
    { cleanup: async (namespace) => void hubs.delete(namespace) },
  );

  it("forgets a msgId once the duplicate window has passed on the injected clock", async () => {
    let now = 1_000_000;
    const bus = createMemoryBus({
      clock: () => now,
      logger: silentLogger,
      settings: { ...fastSettings, duplicateWindowMs: 120_000 },
    });
    const subject = bus.registry.subjects.c2cMessage;
    const first = await bus.publish(subject, enc("a"), { msgId: "k" });
    now += 119_999;
    expect(await bus.publish(subject, enc("a"), { msgId: "k" })).toEqual({
      seq: first.seq,
      duplicate: true,
    });
    now += 1;
    const later = await bus.publish(subject, enc("a"), { msgId: "k" });
    expect(later.duplicate).toBe(false);
    expect(later.seq).toBeGreaterThan(first.seq);
    await bus.close();
  });
});

describe("nats backend", () => {
  describeBusContract(
    "nats",
    ({ namespace, settings, logger }) =>
      openNatsBus({ url: testNatsUrl(), namespace, settings, logger: logger ?? silentLogger }),
    { cleanup: (namespace) => deleteStreams(testNatsUrl(), namespace) },
  );

  describe("NATS-specific", () => {
    const buses: Bus[] = [];
    const servers: ServiceProcess[] = [];
    afterEach(async () => {
      await Promise.all(buses.splice(0).map((b) => b.close()));
      await Promise.all(servers.splice(0).map((s) => s.dispose()));
    });

    it("fails fast at start with a message naming the unreachable URL", async () => {
      const url = `nats://127.0.0.1:${await freePort()}`;
      const started = Date.now();
      const error = await openNatsBus({
        url,
        namespace: uniqueName("bus_unreach"),
        logger: silentLogger,
        connectTimeoutMs: 1_000,
      }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(BusUnavailableError);
      expect((error as Error).message).toContain(url);
      // The configured 1 s, not the 5 s default: the bound sits between the two, far
      // enough from each that a loaded machine cannot blur them.
      expect(Date.now() - started).toBeLessThan(4_000);
    });

    it("writes drifted settings to the server", async () => {
      const ns = uniqueName("bus_drift");
      try {
        buses.push(await openNatsBus({ url: testNatsUrl(), namespace: ns, logger: silentLogger }));
        const drifted = await openNatsBus({
          url: testNatsUrl(),
          namespace: ns,
          logger: silentLogger,
          settings: { ackWaitMs: 7_000, maxDeliver: 4, duplicateWindowMs: 30_000 },
        });
        buses.push(drifted);
        expect(drifted.reconcileReport.consumers[`${ns}-fanout`]).toBe("updated");

        const nc = await connect({ servers: testNatsUrl() });
        try {
          const jsm = await jetstreamManager(nc);
          const consumer = await jsm.consumers.info(`${ns}-messages`, `${ns}-fanout`);
          expect(consumer.config.ack_wait).toBe(nanos(7_000));
          expect(consumer.config.max_deliver).toBe(4);
          const stream = await jsm.streams.info(`${ns}-messages`);
          expect(stream.config.duplicate_window).toBe(nanos(30_000));
        } finally {
          await nc.close();
        }
      } finally {
        await deleteStreams(testNatsUrl(), ns);
      }
    });

    describe("with a private nats-server", () => {
      // Its own temp store dir, kept across restart() and removed by dispose().
      const privateServer = async () => {
        const server = await startNatsServer();
        servers.push(server);
        return server;
      };

      it("rejects a publish within the bound while the server is down", async () => {
        const server = await privateServer();
        const bus = await openNatsBus({
          url: server.url,
          namespace: uniqueName("bus_down"),
          logger: silentLogger,
          publishTimeoutMs: 1_000,
        });
        buses.push(bus);
        await server.stop("SIGKILL");

        const started = Date.now();
        await expect(
          bus.publish(bus.registry.subjects.c2cMessage, enc("x"), { msgId: "down" }),
        ).rejects.toBeInstanceOf(BusUnavailableError);
        // Within the configured 1 s rather than the 5 s default (see "fails fast" above).
        expect(Date.now() - started).toBeLessThan(4_000);
        await eventually("disconnected state", () => !bus.isConnected(), 15_000);
        const again = Date.now();
        await expect(
          bus.publish(bus.registry.subjects.c2cMessage, enc("x"), { msgId: "down" }),
        ).rejects.toBeInstanceOf(BusUnavailableError);
        expect(Date.now() - again).toBeLessThan(4_000);
      });

      it("resumes consuming after the server is killed (-9) and restarted", async () => {
        const server = await privateServer();
        const bus = await openNatsBus({
          url: server.url,
          namespace: uniqueName("bus_restart"),
          logger: silentLogger,
          settings: fastSettings,
          publishTimeoutMs: 1_000,
        });
        buses.push(bus);
        const changes: boolean[] = [];
        bus.onConnectionChange((c) => changes.push(c));
        const handled: BusEvent[] = [];
        await bus.consume("fanout", async (e) => {
          handled.push(e);
        });
        const subject = bus.registry.subjects.c2cMessage;

        await bus.publish(subject, enc("before"), { msgId: "before" });
        await eventually("the first event", () => handled.length === 1);

        await server.stop("SIGKILL");
        await eventually("disconnect", () => !bus.isConnected(), 15_000);
        await server.restart();
        await eventually("reconnect", () => bus.isConnected(), 15_000);
        expect(changes).toEqual([false, true]);

        // JetStream may need a moment after the restart: retry like the outbox would.
        const deadline = Date.now() + 20_000;
        for (;;) {
          try {
            await bus.publish(subject, enc("after"), { msgId: "after" });
            break;
          } catch (err) {
            if (Date.now() > deadline) throw err;
            await sleep(200);
          }
        }
        await eventually(
          "the event published after the restart",
          () => handled.some((e) => e.msgId === "after"),
          20_000,
        );
        await sleep(500);
        // At-least-once: a kill -9 may lose the server's record of the last ack (consumer
        // state is flushed asynchronously), so "before" may come again; nothing else may.
        expect(new Set(handled.map((e) => e.msgId))).toEqual(new Set(["before", "after"]));
      });

      it("counts as connected after an outage only once the other nodes are back", async () => {
        const server = await privateServer();
        // The other node reaches the server through a gate that can hold its reconnect.
        const gate = await tcpGate(server.url);
        const namespace = uniqueName("bus_rejoin");
        const a = recordingLogger();
        const open = (url: string, logger = silentLogger) =>
          openNatsBus({ url, namespace, logger, peerWaitCapMs: 120_000 });
        const other = await open(gate.url);
        buses.push(other);
        const bus = await open(server.url, a.logger);
        buses.push(bus);
        const order: string[] = [];
        bus.onConnectionChange((c) => order.push(`bus ${c}`));
        other.onConnectionChange((c) => order.push(`other ${c}`));
        await eventually("the other node seen", () =>
          a.records.some((r) => r.msg === "bus: node seen"),
        );

        gate.hold();
        await server.stop("SIGKILL");
        await eventually("disconnect", () => !bus.isConnected() && !other.isConnected(), 15_000);
        await server.restart();
        const reconnected = () => a.records.some((r) => r.msg === "bus: reconnected to NATS");
        await eventually("the NATS connection back", reconnected, 15_000);
        expect(bus.isConnected()).toBe(false);

        // Which of the two tells "true" first is a race of their roll calls; what
        // counts is that this node turned connected only after the other came back.
        order.push("gate open");
        gate.open();
        await eventually("connected", () => bus.isConnected(), 30_000);
        expect(order.filter((e) => e === "gate open" || e === "bus true")).toEqual([
          "gate open",
          "bus true",
        ]);
        await gate.close();
      });

      it("recreates its streams and resumes when the server comes back empty", async () => {
        const server = await privateServer();
        const bus = await openNatsBus({
          url: server.url,
          namespace: uniqueName("bus_empty"),
          logger: silentLogger,
          settings: fastSettings,
          publishTimeoutMs: 1_000,
        });
        buses.push(bus);
        const handled: string[] = [];
        await bus.consume("fanout", async (e) => {
          handled.push(e.msgId ?? "");
        });
        const subject = bus.registry.subjects.c2cMessage;
        await bus.publish(subject, enc("before"), { msgId: "before" });
        await eventually("the first event", () => handled.length === 1);

        await server.stop("SIGKILL");
        // Same port, fresh store: the streams and the consumer are gone.
        servers.push(await startNatsServer({ port: server.port }));
        await eventually("reconnect", () => bus.isConnected(), 15_000);
        const deadline = Date.now() + 10_000;
        for (;;) {
          try {
            await bus.publish(subject, enc("after"), { msgId: "after" });
            break;
          } catch (err) {
            if (Date.now() > deadline) throw err;
            await sleep(100);
          }
        }
        // Inside nats.js's own 30 s consumer-not-found backoff, with room for a loaded machine.
        await eventually(
          "the event after the empty restart",
          () => handled.includes("after"),
          15_000,
        );
      });
    });
  });
});

/** Removes the streams (and with them the consumers) a namespace created. */
async function deleteStreams(url: string, namespace: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${namespace}-`)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}

/** A TCP relay to a nats-server whose new connections can be held back (refused). */
async function tcpGate(target: string) {
  const { hostname, port } = new URL(target);
  let held = false;
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    if (held) {
      client.destroy();
      return;
    }
    const upstream = connectTcp(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const relayPort = await freePort();
  await new Promise<void>((resolve) => relay.listen(relayPort, "127.0.0.1", resolve));
  return {
    url: `nats://127.0.0.1:${relayPort}`,
    hold() {
      held = true;
    },
    open() {
      held = false;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}
