import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { Bus, BusEvent } from "../../src/bus/bus.js";
import { BusUnavailableError, PoisonEventError } from "../../src/bus/errors.js";
import type { BusSettings } from "../../src/bus/registry.js";
import { createLogger, type Logger, silentLogger } from "../../src/log/logger.js";
import { uniqueName } from "../services/index.js";

export interface MakeBusOptions {
  namespace: string;
  settings?: Partial<BusSettings>;
  logger?: Logger;
}

/** Opens a bus; two calls with one namespace must act as two processes on one server. */
export type MakeBus = (options: MakeBusOptions) => Promise<Bus>;

export interface BusContractHooks {
  /** Removes what a namespace left on the backend (e.g. its streams). */
  cleanup?: (namespace: string) => Promise<void>;
}

/** Short timings so redelivery cases take about a second, not minutes. */
export const fastSettings: Partial<BusSettings> = {
  ackWaitMs: 1_000,
  maxDeliver: 3,
  backoffMs: [50, 100],
};

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Polls until `check` holds; fails naming `what` after `timeoutMs`. */
export async function eventually(
  what: string,
  check: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A logger that keeps its records for assertions. */
export function recordingLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: "debug",
    write: (line) => records.push(JSON.parse(line) as Record<string, unknown>),
  });
  return { logger, records };
}

/** What every Bus backend must do; `makeBus` decides the backend. */
export function describeBusContract(name: string, makeBus: MakeBus, hooks: BusContractHooks = {}) {
  describe(`Bus contract: ${name}`, () => {
    const opened: Bus[] = [];
    const namespaces = new Set<string>();

    const open = async (namespace: string, options: Omit<MakeBusOptions, "namespace"> = {}) => {
      namespaces.add(namespace);
      const bus = await makeBus({
        namespace,
        settings: options.settings ?? fastSettings,
        logger: options.logger ?? silentLogger,
      });
      opened.push(bus);
      return bus;
    };

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((b) => b.close()));
      for (const ns of namespaces) await hooks.cleanup?.(ns);
      namespaces.clear();
    });

    /** Collects every delivery a consumer sees. */
    const collector = () => {
      const events: BusEvent[] = [];
      const handler = async (e: BusEvent) => {
        events.push(e);
      };
      return { events, handler };
    };

    describe("publish", () => {
      it("stores an event and delivers it to the durable consumer with its metadata", async () => {
        const bus = await open(uniqueName("bus_pub"));
        const { events, handler } = collector();
        await bus.consume("fanout", handler);

        const result = await bus.publish(bus.registry.subjects.c2cMessage, enc("hello"), {
          msgId: "m-1",
        });
        expect(result.duplicate).toBe(false);
        expect(result.seq).toBeGreaterThan(0);

        await eventually("delivery", () => events.length === 1);
        const [event] = events;
        expect(event?.subject).toBe(bus.registry.subjects.c2cMessage);
        expect(dec(event?.data ?? new Uint8Array())).toBe("hello");
        expect(event?.msgId).toBe("m-1");
        expect(event?.streamSeq).toBe(result.seq);
        expect(event?.deliveryCount).toBe(1);
      });

      it("keeps events published before anyone consumes", async () => {
        const bus = await open(uniqueName("bus_early"));
        await bus.publish(bus.registry.subjects.groupMessage, enc("early"), { msgId: "e-1" });
        const { events, handler } = collector();
        await bus.consume("fanout", handler);
        await eventually("delivery of the early event", () => events.length === 1);
        expect(dec(events[0]?.data ?? new Uint8Array())).toBe("early");
      });

      it("reports a repeated msgId as duplicate and stores it once", async () => {
        const bus = await open(uniqueName("bus_dedup"));
        const subject = bus.registry.subjects.c2cMessage;
        const first = await bus.publish(subject, enc("a"), { msgId: "dup" });
        const again = await bus.publish(subject, enc("a"), { msgId: "dup" });
        const other = await bus.publish(subject, enc("b"), { msgId: "other" });
        expect(again).toEqual({ seq: first.seq, duplicate: true });
        expect(other.duplicate).toBe(false);
        expect(other.seq).toBeGreaterThan(first.seq);

        const { events, handler } = collector();
        await bus.consume("fanout", handler);
        await eventually("both distinct events", () => events.length === 2);
        await sleep(200);
        expect(events.map((e) => e.msgId)).toEqual(["dup", "other"]);
      });

      it("rejects with BusUnavailableError for a subject no stream stores", async () => {
        const bus = await open(uniqueName("bus_nostream"));
        await expect(
          bus.publish(`${bus.registry.namespace}.nowhere`, enc("x"), { msgId: "n" }),
        ).rejects.toBeInstanceOf(BusUnavailableError);
      });

      it("rejects with BusUnavailableError once closed", async () => {
        const bus = await open(uniqueName("bus_closed"));
        await bus.close();
        await expect(
          bus.publish(bus.registry.subjects.c2cMessage, enc("x"), { msgId: "c" }),
        ).rejects.toBeInstanceOf(BusUnavailableError);
      });
    });

    describe("durable consumer", () => {
      it("shares work across two instances: each event handled exactly once", async () => {
        const ns = uniqueName("bus_share");
        const a = await open(ns);
        const b = await open(ns);
        const seen = new Map<string, string[]>();
        const handlerFor = (who: string) => async (e: BusEvent) => {
          // Slow enough that neither instance can take the whole batch alone.
          await sleep(20);
          const id = e.msgId ?? "?";
          seen.set(id, [...(seen.get(id) ?? []), who]);
        };
        await a.consume("fanout", handlerFor("a"), { concurrency: 2 });
        await b.consume("fanout", handlerFor("b"), { concurrency: 2 });

        const total = 40;
        for (let i = 0; i < total; i++) {
          const publisher = i % 2 === 0 ? a : b;
          await publisher.publish(a.registry.subjects.c2cMessage, enc(`e${i}`), { msgId: `e${i}` });
        }
        await eventually("all events handled", () => seen.size === total);
        await sleep(300);
        const handledBy = [...seen.values()];
        expect(handledBy.every((who) => who.length === 1)).toBe(true);
        expect(handledBy.flat().filter((w) => w === "a").length).toBeGreaterThan(0);
        expect(handledBy.flat().filter((w) => w === "b").length).toBeGreaterThan(0);
      });

      it("redelivers after a handler throws (nak with backoff)", async () => {
        const bus = await open(uniqueName("bus_nak"));
        const deliveries: { count: number; at: number }[] = [];
        await bus.consume("fanout", async (e) => {
          deliveries.push({ count: e.deliveryCount, at: Date.now() });
          if (e.deliveryCount === 1) throw new Error("transient");
        });
        await bus.publish(bus.registry.subjects.c2cMessage, enc("x"), { msgId: "nak" });
        await eventually("redelivery", () => deliveries.length === 2);
        await sleep(300);
        expect(deliveries.map((d) => d.count)).toEqual([1, 2]);
        const [first, second] = deliveries;
        // backoffMs[0] is 50 ms; allow timer slack.
        expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(40);
      });

      it("terminates a poison event after maxDeliver and logs it", async () => {
        const { logger, records } = recordingLogger();
        const bus = await open(uniqueName("bus_poison"), { settings: fastSettings, logger });
        const counts: number[] = [];
        const { events: good, handler: goodHandler } = collector();
        await bus.consume("fanout", async (e) => {
          if (e.msgId === "poison") {
            counts.push(e.deliveryCount);
            throw new Error("always fails");
          }
          await goodHandler(e);
        });
        await bus.publish(bus.registry.subjects.c2cMessage, enc("p"), { msgId: "poison" });
        await bus.publish(bus.registry.subjects.c2cMessage, enc("g"), { msgId: "good" });
        await eventually("max deliveries", () => counts.length === 3);
        // Longer than the backoff and ack wait: a 4th delivery would have come by now.
        await sleep(1_500);
        expect(counts).toEqual([1, 2, 3]);
        expect(good.map((e) => e.msgId)).toEqual(["good"]);
        expect(
          records.some(
            (r) => r.level === "error" && String(r.msg).includes("poison") && r.msgId === "poison",
          ),
        ).toBe(true);
      });

      it("terminates at once when the handler throws PoisonEventError", async () => {
        const bus = await open(uniqueName("bus_term"));
        const counts: number[] = [];
        await bus.consume("fanout", async (e) => {
          counts.push(e.deliveryCount);
          throw new PoisonEventError("undecodable");
        });
        await bus.publish(bus.registry.subjects.c2cMessage, enc("?"), { msgId: "bad" });
        await eventually("first delivery", () => counts.length === 1);
        await sleep(1_500);
        expect(counts).toEqual([1]);
      });

      it("redelivers after ack wait when a handler never completes", async () => {
        const bus = await open(uniqueName("bus_ackwait"));
        const deliveries: { count: number; at: number }[] = [];
        await bus.consume("fanout", (e) => {
          deliveries.push({ count: e.deliveryCount, at: Date.now() });
          // The first delivery hangs forever, like a wedged handler.
          return e.deliveryCount === 1 ? new Promise<void>(() => {}) : Promise.resolve();
        });
        await bus.publish(bus.registry.subjects.c2cMessage, enc("x"), { msgId: "hang" });
        await eventually("redelivery after ack wait", () => deliveries.length === 2, 15_000);
        const [first, second] = deliveries;
        expect(second?.count).toBe(2);
        // ackWaitMs is 1000; allow timer slack below.
        expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(900);
        await sleep(1_300);
        expect(deliveries).toHaveLength(2);
      });

      it("does not redeliver an event whose running handler renews it; redelivers one past its renewal bound", async () => {
        const bus = await open(uniqueName("bus_renew"));
        // The renewed one runs on fanout (bound far off), the hung one on push (bound 1.5 ack waits).
        const renewed: number[] = [];
        const markers: string[] = [];
        let releaseRenewed: () => void = () => {};
        const renewedHeld = new Promise<void>((resolve) => {
          releaseRenewed = resolve;
        });
        await bus.consume(
          "fanout",
          async (e) => {
            if (e.msgId !== "renewed") {
              markers.push(e.msgId ?? "");
              return;
            }
            renewed.push(e.deliveryCount);
            if (e.deliveryCount === 1) await renewedHeld;
          },
          { renewal: { maxMs: 60_000 } },
        );
        const hung: number[] = [];
        await bus.consume(
          "push",
          (e) => {
            hung.push(e.deliveryCount);
            return e.deliveryCount === 1 ? new Promise<void>(() => {}) : Promise.resolve();
          },
          { renewal: { maxMs: 1_500 } },
        );

        await bus.publish(bus.registry.subjects.c2cMessage, enc("r"), { msgId: "renewed" });
        await eventually("the renewed handler running", () => renewed.length === 1);
        await bus.publish(bus.registry.subjects.pushJob, enc("h"), { msgId: "hung" });
        // Past its bound plus an ack wait; the renewed handler has run since before it started.
        await eventually("redelivery of the hung event", () => hung.length === 2, 15_000);
        releaseRenewed();
        // Redeliveries go ahead of new events: had "renewed" come again, it would precede this.
        await bus.publish(bus.registry.subjects.c2cMessage, enc("m"), { msgId: "marker" });
        await eventually("the marker", () => markers.length === 1);
        expect(renewed).toEqual([1]);
        expect(hung).toEqual([1, 2]);
      });

      it("gives up on and logs an event whose handler hangs on every delivery", async () => {
        const { logger, records } = recordingLogger();
        const bus = await open(uniqueName("bus_wedged"), { settings: fastSettings, logger });
        const counts: number[] = [];
        await bus.consume("fanout", (e) => {
          counts.push(e.deliveryCount);
          return new Promise<void>(() => {});
        });
        await bus.publish(bus.registry.subjects.c2cMessage, enc("w"), { msgId: "wedged" });
        await eventually("max deliveries", () => counts.length === 3, 15_000);
        await eventually(
          "a poison log record",
          () => records.some((r) => r.level === "error" && String(r.msg).includes("poison")),
          5_000,
        );
        await sleep(500);
        expect(counts).toEqual([1, 2, 3]);
      });

      it("stop() waits for in-flight handlers, whose events are then acked", async () => {
        const ns = uniqueName("bus_stop");
        const a = await open(ns);
        let started = 0;
        let finished = 0;
        const handle = await a.consume("fanout", async () => {
          started++;
          await sleep(300);
          finished++;
        });
        await a.publish(a.registry.subjects.c2cMessage, enc("x"), { msgId: "s1" });
        await eventually("handler started", () => started === 1);
        await handle.stop();
        expect(finished).toBe(1);

        // Acked: another instance must not get it again.
        const b = await open(ns);
        const { events, handler } = collector();
        await b.consume("fanout", handler);
        await sleep(1_500);
        expect(events).toHaveLength(0);
      });
    });

    describe("live subjects", () => {
      /** Subscribes `bus` to `subject`, recording payloads other than warm-up probes. */
      const liveRecorder = (bus: Bus, subject: string) => {
        const got: string[] = [];
        let probed = false;
        const unsubscribe = bus.subscribeLive(subject, (data) => {
          const text = dec(data);
          if (text === "probe") probed = true;
          else got.push(text);
        });
        return { got, unsubscribe, probed: () => probed };
      };
      // A subscription reaches a real server asynchronously: probe until routes are up.
      const warmUp = async (
        publisher: Bus,
        subject: string,
        recorders: { probed(): boolean }[],
      ) => {
        await eventually("live subscriptions to be routed", () => {
          publisher.publishLive(subject, enc("probe"));
          return recorders.every((r) => r.probed());
        });
        await sleep(50);
      };

      it("fans in and out across instances, and only to the subject's subscribers", async () => {
        const ns = uniqueName("bus_live");
        const a = await open(ns);
        const b = await open(ns);
        const u1 = a.registry.liveUserSubject("u1");
        const u2 = a.registry.liveUserSubject("u2");
        const onA = liveRecorder(a, u1);
        const onB = liveRecorder(b, u1);
        const otherUser = liveRecorder(b, u2);
        await warmUp(a, u1, [onA, onB]);
        await warmUp(b, u1, [onA, onB]);

        a.publishLive(u1, enc("from-a"));
        b.publishLive(u1, enc("from-b"));
        await eventually(
          "both instances get both",
          () => onA.got.length === 2 && onB.got.length === 2,
        );
        await sleep(100);
        expect(onA.got.sort()).toEqual(["from-a", "from-b"]);
        expect(onB.got.sort()).toEqual(["from-a", "from-b"]);
        expect(otherUser.got).toEqual([]);
      });

      it("reaches, once flushLive resolves, every subscription made before it: many callers at once", async () => {
        const ns = uniqueName("bus_flush");
        const a = await open(ns);
        const b = await open(ns);
        // As a wave of streams opens: each subscribes, then waits for its flush (no warm-up).
        const users = Array.from({ length: 200 }, (_, i) => `flush${i}`);
        const got = new Set<string>();
        await Promise.all(
          users.map(async (user) => {
            a.subscribeLive(a.registry.liveUserSubject(user), (data) => got.add(dec(data)));
            await a.flushLive();
          }),
        );
        for (const user of users) b.publishLive(b.registry.liveUserSubject(user), enc(user));
        await eventually("every subscription gets its event", () => got.size === users.length);
      });

      it("confirms with flushLive the live events published before it; false once closed", async () => {
        const ns = uniqueName("bus_flush_live");
        const a = await open(ns);
        const b = await open(ns);
        const subject = b.registry.liveUserSubject("confirmed");
        const got: string[] = [];
        b.subscribeLive(subject, (data) => got.push(dec(data)));
        expect(await b.flushLive()).toBe(true);
        for (const n of ["1", "2", "3"]) a.publishLive(subject, enc(n));
        expect(await a.flushLive()).toBe(true);
        // The server has them all now: b's own round trip, behind them on b's connection,
        // comes back after their delivery (no waiting: a flush that went ahead of the
        // publishes lets b's PING overtake them).
        expect(await b.flushLive()).toBe(true);
        expect(got).toEqual(["1", "2", "3"]);
        await a.close();
        expect(await a.flushLive()).toBe(false);
      });

      it("stops delivering to a handler once unsubscribed, leaving others subscribed", async () => {
        const ns = uniqueName("bus_unsub");
        const a = await open(ns);
        const b = await open(ns);
        const room = a.registry.liveGroupsSubject;
        const first = liveRecorder(b, room);
        const second = liveRecorder(b, room);
        await warmUp(a, room, [first, second]);

        first.unsubscribe();
        first.unsubscribe(); // idempotent
        a.publishLive(room, enc("after"));
        await eventually("the remaining subscriber", () => second.got.length === 1);
        await sleep(200);
        expect(first.got).toEqual([]);
        expect(second.got).toEqual(["after"]);
      });

      it("keeps delivering when a live handler throws", async () => {
        const ns = uniqueName("bus_livethrow");
        const a = await open(ns);
        const subject = a.registry.liveUserSubject("u-throw");
        const got: string[] = [];
        a.subscribeLive(subject, (data) => {
          const text = dec(data);
          if (text !== "probe") got.push(text);
          throw new Error("handler bug");
        });
        await eventually("delivery despite throwing handlers", () => {
          a.publishLive(subject, enc("x"));
          return got.length >= 2;
        });
      });

      it("rejects wildcard subjects and unsafe user ids", async () => {
        const bus = await open(uniqueName("bus_subj"));
        expect(() =>
          bus.subscribeLive(`${bus.registry.namespace}.live.user.*`, () => {}),
        ).toThrow();
        expect(() => bus.registry.liveUserSubject("a.b")).toThrow();
        expect(() => bus.registry.liveUserSubject("x".repeat(33))).toThrow();
      });
    });

    describe("registry reconcile", () => {
      it("creates missing streams and consumers, leaves equal ones, updates drifted ones", async () => {
        const ns = uniqueName("bus_reconcile");
        const stream = `${ns}-messages`;
        const durable = `${ns}-fanout`;
        const pushStream = `${ns}-push`;
        const pushDurable = `${ns}-push`;
        const bcast = `${ns}-broadcast`; // stream and durable

        const first = await open(ns);
        expect(first.reconcileReport).toEqual({
          streams: { [stream]: "created", [pushStream]: "created", [bcast]: "created" },
          consumers: { [durable]: "created", [pushDurable]: "created", [bcast]: "created" },
        });
        expect(first.registry.streams.messages.name).toBe(stream);
        expect(first.registry.consumers.fanout.durable).toBe(durable);

        const same = await open(ns);
        expect(same.reconcileReport).toEqual({
          streams: { [stream]: "unchanged", [pushStream]: "unchanged", [bcast]: "unchanged" },
          consumers: { [durable]: "unchanged", [pushDurable]: "unchanged", [bcast]: "unchanged" },
        });

        const drifted = await open(ns, {
          settings: { ...fastSettings, ackWaitMs: 2_000, duplicateWindowMs: 60_000 },
        });
        expect(drifted.reconcileReport).toEqual({
          streams: { [stream]: "updated", [pushStream]: "updated", [bcast]: "updated" },
          consumers: { [durable]: "updated", [pushDurable]: "updated", [bcast]: "updated" },
        });

        // Client-side settings (backoff, concurrency) are not server state: no drift.
        const clientOnly = await open(ns, {
          settings: {
            ...fastSettings,
            ackWaitMs: 2_000,
            duplicateWindowMs: 60_000,
            backoffMs: [10],
            concurrency: 3,
          },
        });
        expect(clientOnly.reconcileReport).toEqual({
          streams: { [stream]: "unchanged", [pushStream]: "unchanged", [bcast]: "unchanged" },
          consumers: { [durable]: "unchanged", [pushDurable]: "unchanged", [bcast]: "unchanged" },
        });
      });
    });

    describe("window counters", () => {
      const MINUTE = 60_000;
      it("counts per scope, id and window; a new window starts from 1", async () => {
        const bus = await open(uniqueName("bus_cnt"));
        const t = 1_000 * MINUTE; // the start of a window
        const c = bus.counters;
        expect(await c.increment("send", "alice", MINUTE, t)).toBe(1);
        expect(await c.increment("send", "alice", MINUTE, t + MINUTE - 1)).toBe(2);
        expect(await c.increment("send", "bob", MINUTE, t)).toBe(1);
        expect(await c.increment("history", "alice", MINUTE, t)).toBe(1);
        expect(await c.increment("send", "alice", MINUTE, t + MINUTE)).toBe(1);
        expect(await c.increment("send", "alice", 1000, t)).toBe(1);
        expect(await c.increment("send", "alice", 1000, t, 5)).toBe(6);
        await expect(c.increment("send", "a.b", MINUTE, t)).rejects.toThrow(/invalid counter id/);
        await expect(c.increment("Send>", "alice", MINUTE, t)).rejects.toThrow(/scope/);
      });

      it("is shared by the processes of one namespace: concurrent increments each get their own count", async () => {
        const namespace = uniqueName("bus_cnt2");
        const [one, two] = [await open(namespace), await open(namespace)];
        const other = await open(uniqueName("bus_cnt3"));
        const t = 2_000 * MINUTE;
        const counts = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? one : two).counters.increment("send", "carol", MINUTE, t),
          ),
        );
        expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect(await two.counters.increment("send", "carol", MINUTE, t)).toBe(21);
        expect(await one.counters.increment("send", "carol", MINUTE, t)).toBe(22);
        // Another namespace (deployment) counts on its own.
        expect(await other.counters.increment("send", "carol", MINUTE, t)).toBe(1);
      });
    });

    describe("connection state", () => {
      it("is connected while open and reports the change on close", async () => {
        const bus = await open(uniqueName("bus_state"));
        expect(bus.isConnected()).toBe(true);
        const changes: boolean[] = [];
        bus.onConnectionChange((c) => changes.push(c));
        await bus.close();
        await eventually("disconnect notice", () => changes.length === 1);
        expect(changes).toEqual([false]);
        expect(bus.isConnected()).toBe(false);
      });
    });
  });
}
