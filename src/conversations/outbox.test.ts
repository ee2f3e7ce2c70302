import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { recordingLogger } from "../../test/contract/bus-contract.js";
import { eventually } from "../../test/support/eventually.js";
import { MessageRecallSchema } from "../gen/im/v1/recall_pb.js";
import { silentLogger } from "../log/logger.js";
import {
  createOutbox,
  type FanoutWork,
  type Outbox,
  type OutboxDeps,
  type OutboxSource,
} from "./outbox.js";
import { outboxKeyOf, type SequencedMessage, type StoredMessage } from "./store.js";

type Rec = StoredMessage<SequencedMessage>;

const message = (seq: number, recalled = false): Rec => ({
  message: {
    seq: BigInt(seq),
    messageKey: `c:${seq}`,
    timeMs: 0n,
    ...(recalled ? { recall: create(MessageRecallSchema, { recalledByUserId: "a" }) } : {}),
  },
  dedupKey: undefined,
  unpublished: true,
  skipAfterSendWebhook: false,
  skipSyncToSender: false,
});

/** A bus whose connection and publish outcomes the test sets; records what it got. */
function testBus() {
  const listeners = new Set<(connected: boolean) => void>();
  const bus = {
    connected: true,
    failPublishes: false,
    /** What flushLive answers (while connected): whether the server confirmed the live events. */
    confirmsLive: true,
    /** Set: flushLive waits for it. */
    flushGate: undefined as Promise<void> | undefined,
    /** flushLive's answers and the marks cleared, in order. */
    log: [] as string[],
    published: [] as { key: string; liveSent: boolean }[],
    /** Keys on the bus already (JetStream's duplicate window): a publish of one is a duplicate. */
    onBus: new Set<string>(),
    isConnected: () => bus.connected,
    setConnected(connected: boolean) {
      bus.connected = connected;
      for (const l of listeners) l(connected);
    },
    onConnectionChange(listener: (connected: boolean) => void) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    async flushLive() {
      await bus.flushGate;
      const confirmed = bus.connected && bus.confirmsLive;
      bus.log.push(`flushLive ${confirmed}`);
      return confirmed;
    },
    async publish(_subject: string, data: Uint8Array, options?: { msgId?: string }) {
      if (bus.failPublishes || !bus.connected) throw new Error("bus down");
      const { liveSent } = JSON.parse(new TextDecoder().decode(data)) as { liveSent: boolean };
      const key = options?.msgId ?? "";
      if (bus.onBus.has(key)) return { seq: 0, duplicate: true };
      bus.onBus.add(key);
      bus.published.push({ key, liveSent });
      return { seq: bus.published.length, duplicate: false };
    },
  };
  return bus;
}

function testSource(stored: Rec[] = [], marks = { failing: false, failed: 0 }) {
  const live: string[] = [];
  const source: OutboxSource<Rec> = {
    name: "test",
    subject: "test.subject",
    encode: (_r, liveSent) => new TextEncoder().encode(JSON.stringify({ liveSent })),
    deliverLive: (r) => live.push(outboxKeyOf(r.message)),
    keyOf: (r) => outboxKeyOf(r.message),
    messageOf: (r) => r.message,
    selectUnpublished: async () => stored.filter((r) => r.unpublished),
    countUnpublished: async () => stored.filter((r) => r.unpublished).length,
    markPublished: async (keys) => {
      if (marks.failing) {
        marks.failed++;
        throw new Error("store down");
      }
      for (const r of stored) if (keys.includes(outboxKeyOf(r.message))) r.unpublished = false;
    },
  };
  return { source, live };
}

const outboxes: Outbox<Rec>[] = [];
afterEach(async () => {
  for (const o of outboxes.splice(0)) await o.stop();
});

function outbox(
  bus: ReturnType<typeof testBus>,
  source: OutboxSource<Rec>,
  holds: () => boolean = () => true,
  more: Partial<OutboxDeps<Rec>> = {},
) {
  const o = createOutbox({
    source,
    bus,
    clock: () => 1_000_000,
    logger: silentLogger,
    intervalMs: 60_000,
    staleMs: 0,
    recoveryLease: { holds: async () => holds() },
    ...more,
  });
  outboxes.push(o);
  return o;
}

describe("outbox", () => {
  it("delivers live, then publishes marked live_sent", async () => {
    const bus = testBus();
    const { source, live } = testSource();
    const o = outbox(bus, source);
    o.publish(message(1));
    expect(live).toEqual(["c:1"]);
    await o.stop();
    expect(bus.published).toEqual([{ key: "c:1", liveSent: true }]);
  });

  it("keeps what it stored while the bus was down and sends it itself once back", async () => {
    const bus = testBus();
    const { source, live } = testSource();
    const o = outbox(bus, source, () => false);
    bus.setConnected(false);
    o.publish(message(1));
    expect([live, bus.published]).toEqual([[], []]);
    bus.setConnected(true);
    await o.recover();
    expect(live).toEqual(["c:1"]);
    expect(bus.published).toEqual([{ key: "c:1", liveSent: true }]);
  });

  it("keeps only a message's latest version: a recall made while down replaces it", async () => {
    const bus = testBus();
    const { source, live } = testSource();
    const o = outbox(bus, source);
    bus.setConnected(false);
    o.publish(message(1));
    o.publish(message(1, true));
    bus.setConnected(true);
    await o.recover();
    expect(live).toEqual([outboxKeyOf(message(1, true).message)]);
    expect(bus.published.map((p) => p.key)).toEqual([outboxKeyOf(message(1, true).message)]);
  });

  it("does not let an older version's failed publish replace a kept recall", async () => {
    const bus = testBus();
    const { source } = testSource();
    const o = outbox(bus, source);
    bus.failPublishes = true;
    o.publish(message(1)); // fails in the background, after the recall below is kept
    bus.setConnected(false);
    o.publish(message(1, true));
    await new Promise((r) => setImmediate(r));
    bus.failPublishes = false;
    bus.setConnected(true);
    await o.recover();
    expect(bus.published.map((p) => p.key)).toEqual([outboxKeyOf(message(1, true).message)]);
  });

  it("republishes stale messages from the store only while holding the lease, not live-sent, never its own pending", async () => {
    const bus = testBus();
    const orphan = message(7);
    const mine = message(8);
    const { source } = testSource([orphan, mine]);
    let lease = false;
    const o = outbox(bus, source, () => lease);
    bus.setConnected(false);
    o.publish(mine);
    bus.failPublishes = true;
    bus.setConnected(true);
    await o.recover();
    expect(bus.published).toEqual([]);
    bus.failPublishes = false;
    lease = true;
    await o.recover();
    expect(bus.published).toEqual([
      { key: "c:8", liveSent: true },
      { key: "c:7", liveSent: false },
    ]);
  });

  it("counts as republished only what the bus did not have, and clears the mark of what it had", async () => {
    const bus = testBus();
    // c:7 went out from its own node, whose mark clearing had not landed yet.
    const published = message(7);
    const orphan = message(9);
    const stored = [published, orphan];
    const { source } = testSource(stored);
    bus.onBus.add("c:7");
    const o = outbox(bus, source);
    expect(await o.recover()).toBe(1);
    expect(bus.published).toEqual([{ key: "c:9", liveSent: false }]);
    await o.stop();
    expect(stored.map((r) => r.unpublished)).toEqual([false, false]);
  });

  it("retries clearing marks itself while the store is down: the store pass does not republish them", async () => {
    const bus = testBus();
    const marks = { failing: true, failed: 0 };
    const record = message(1);
    const { source, live } = testSource([record], marks);
    const o = createOutbox({
      source,
      bus,
      clock: () => 1_000_000,
      logger: silentLogger,
      intervalMs: 10,
      staleMs: 0,
    });
    outboxes.push(o);
    o.publish(record);
    await eventually(async () => expect(marks.failed).toBeGreaterThan(0));
    await o.recover();
    expect([live, bus.published.length]).toEqual([["c:1"], 1]);
    marks.failing = false;
    // eventually, not vi.waitFor: its 1 s default is a wall-clock margin on a loaded machine.
    await eventually(async () => expect(record.unpublished).toBe(false));
  });

  it("ends a store pass whose batch it must skip entirely instead of reading it again", async () => {
    const bus = testBus();
    const mine = Array.from({ length: 500 }, (_, i) => message(i + 1));
    const { source } = testSource(mine);
    let selects = 0;
    const counting: OutboxSource<Rec> = {
      ...source,
      selectUnpublished: (beforeMs, limit) => {
        selects++;
        return source.selectUnpublished(beforeMs, limit);
      },
    };
    const o = outbox(bus, counting);
    bus.setConnected(false);
    for (const r of mine) o.publish(r);
    bus.failPublishes = true;
    bus.setConnected(true);
    await o.recover();
    expect([selects, bus.published.length]).toEqual([1, 0]);
  });

  it("delivers live again what it published on a connection that went, also when the failure comes after a reconnect", async () => {
    const bus = testBus();
    const { source, live } = testSource();
    const { logger, records } = recordingLogger();
    const o = createOutbox({ source, bus, clock: () => 0, logger, intervalMs: 60_000, staleMs: 0 });
    outboxes.push(o);
    let failPublish: (err: Error) => void = () => {};
    const held = bus.publish;
    bus.publish = () => new Promise((_, reject) => (failPublish = reject));
    o.publish(message(1)); // live sent; the publish is in flight when the connection goes
    bus.setConnected(false);
    bus.setConnected(true); // the client reconnected before the publish timed out
    failPublish(new Error("timeout"));
    await eventually(async () =>
      expect(records.some((r) => r.msg === "publish failed; the outbox will retry")).toBe(true),
    );
    bus.publish = held;
    await o.recover();
    expect(bus.published.map((p) => p.key)).toEqual(["c:1"]);
    expect(live).toEqual(["c:1", "c:1"]);
  });

  it("delivers live again what it published just before the connection went", async () => {
    const bus = testBus();
    const { source, live } = testSource();
    const { logger, records } = recordingLogger();
    const o = createOutbox({ source, bus, clock: () => 0, logger, intervalMs: 60_000, staleMs: 0 });
    outboxes.push(o);
    bus.failPublishes = true;
    o.publish(message(1)); // live sent; the publish fails once the connection is gone
    bus.setConnected(false);
    await eventually(async () =>
      expect(records.some((r) => r.msg === "publish failed; the outbox will retry")).toBe(true),
    );
    bus.failPublishes = false;
    bus.setConnected(true);
    await o.recover();
    expect(bus.published.map((p) => p.key)).toEqual(["c:1"]);
    expect(live).toEqual(["c:1", "c:1"]);
  });
});

describe("outbox, when fan-out has no work beyond live delivery", () => {
  /** Fan-out work for the given seqs only; records the live-only fan-outs. */
  const workFor = (...seqs: number[]) => {
    const doneLive: string[] = [];
    const work: FanoutWork<Rec> = {
      needed: (r) => seqs.includes(Number(r.message.seq)),
      doneLive: (r) => doneLive.push(r.message.messageKey),
    };
    return { work, doneLive };
  };
  /** The source, its mark clearing logged in `bus.log`. */
  const loggedSource = (bus: ReturnType<typeof testBus>, stored: Rec[]) => {
    const { source, live } = testSource(stored);
    const logged: OutboxSource<Rec> = {
      ...source,
      markPublished: async (keys) => {
        bus.log.push(`marked ${keys.join(",")}`);
        await source.markPublished(keys);
      },
    };
    return { source: logged, live };
  };

  it("does not publish it: clears the mark once flushLive confirmed the live event", async () => {
    const bus = testBus();
    const record = message(1);
    const { source, live } = loggedSource(bus, [record]);
    const { work, doneLive } = workFor();
    const o = outbox(bus, source, () => true, { fanoutWork: work });
    o.publish(record);
    expect(live).toEqual(["c:1"]);
    await o.stop();
    expect(bus.published).toEqual([]);
    expect(bus.log).toEqual(["flushLive true", "marked c:1"]);
    expect([record.unpublished, doneLive]).toEqual([false, ["c:1"]]);
  });

  it("publishes, live_sent, the records whose fan-out has work", async () => {
    const bus = testBus();
    const records = [message(1), message(2)];
    const { source, live } = loggedSource(bus, records);
    const { work, doneLive } = workFor(2);
    const o = outbox(bus, source, () => true, { fanoutWork: work });
    for (const r of records) o.publish(r);
    await o.stop();
    expect(live).toEqual(["c:1", "c:2"]);
    expect(bus.published).toEqual([{ key: "c:2", liveSent: true }]);
    expect([records.map((r) => r.unpublished), doneLive]).toEqual([[false, false], ["c:1"]]);
  });

  /** Publishes with the confirmation failing in one way. */
  type Unconfirmed = (bus: ReturnType<typeof testBus>, publish: () => void) => void;
  const cannotConfirm: Unconfirmed = (bus, publish) => {
    bus.confirmsLive = false; // e.g. the connection went after the live event was written
    publish();
  };
  const acrossReconnect: Unconfirmed = (bus, publish) => {
    let release = () => {};
    bus.flushGate = new Promise((resolve) => {
      release = resolve;
    });
    publish();
    // The PONG then answers for what was re-sent, not for the other nodes'
    // subscriptions at the time.
    bus.setConnected(false);
    bus.setConnected(true);
    release();
  };
  it.each([
    ["flushLive cannot confirm", cannotConfirm],
    ["the confirmation came across a reconnect", acrossReconnect],
  ])("leaves the mark when %s, then delivers live again and publishes", async (_, unconfirmed) => {
    const bus = testBus();
    const record = message(1);
    const { source, live } = loggedSource(bus, [record]);
    const { logger, records } = recordingLogger();
    const { work, doneLive } = workFor();
    const o = outbox(bus, source, () => false, { fanoutWork: work, logger });
    unconfirmed(bus, () => o.publish(record));
    await eventually(async () =>
      expect(records.some((r) => r.msg === "live event not confirmed; the outbox will retry")).toBe(
        true,
      ),
    );
    expect([record.unpublished, bus.published, doneLive]).toEqual([true, [], []]);
    bus.confirmsLive = true;
    bus.flushGate = undefined;
    await o.recover();
    expect(live).toEqual(["c:1", "c:1"]);
    expect(bus.published).toEqual([{ key: "c:1", liveSent: true }]);
    await o.stop();
    expect(record.unpublished).toBe(false);
  });

  it("leaves a record whose node died before the confirmation to the store pass, published not live-sent", async () => {
    const bus = testBus();
    const record = message(1);
    const stored = [record];
    let release = () => {};
    bus.flushGate = new Promise((r) => (release = r));
    const dying = outbox(bus, testSource(stored).source, () => false, {
      fanoutWork: workFor().work,
    });
    dying.publish(record); // its live event is never confirmed: the node is gone
    const other = testBus();
    const survivor = outbox(other, testSource(stored).source, () => true);
    expect(await survivor.recover()).toBe(1);
    expect(other.published).toEqual([{ key: "c:1", liveSent: false }]);
    release(); // lets the dead node's outbox stop after the test
  });
});
