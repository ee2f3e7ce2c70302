/**
 * The in-process stand-in for a nats-server: streams with dedup, durable consumers with
 * shared work, ack wait, nak delay and max deliver, and live subjects. Several memory
 * buses on one hub behave like several processes on one server. Nothing is stored
 * beyond what consumers still have to deliver, and nothing survives the process.
 */

import type { Logger } from "../log/logger.js";
import type { BusEvent, PublishResult, ReconcileAction } from "./bus.js";
import { BusUnavailableError } from "./errors.js";
import type { Verdict } from "./handle-event.js";
import { createMemoryKvBucket, type MemoryKvBucket } from "./memory-kv.js";
import { createMemoryWindowCounters } from "./memory-window-counters.js";
import type { StreamSpec } from "./registry.js";
import { subjectMatches } from "./subject.js";
import type { WindowCounters } from "./window-counters.js";

/** The server-side part of a consumer's config (backoff and concurrency are client-side). */
export interface HubConsumerConfig {
  durable: string;
  streamName: string;
  ackWaitMs: number;
  maxDeliver: number;
  maxAckPending: number;
}

/** One process's membership in a consumer's shared work. */
export interface HubWorker {
  concurrency: number;
  logger: Logger;
  /** `renew` restarts the delivery's ack wait, as JetStream's "in progress" does. */
  run(event: BusEvent, renew: () => void): Promise<Verdict>;
}

export interface MemoryHub {
  /** Window counters shared by the buses on this hub. */
  counters: WindowCounters;
  reconcileStream(spec: StreamSpec): ReconcileAction;
  reconcileConsumer(config: HubConsumerConfig): ReconcileAction;
  publish(subject: string, data: Uint8Array, msgId: string, now: number): PublishResult;
  /** Starts delivering to `worker`; the returned function stops new deliveries to it. */
  addWorker(durable: string, worker: HubWorker): () => void;
  publishLive(subject: string, data: Uint8Array): void;
  /** Adds `sub` to its subject's subscribers (the same object twice: once). */
  subscribeLive(sub: HubLiveSubscriber): void;
  unsubscribeLive(sub: HubLiveSubscriber): void;
  /** A KV bucket's shared state, made on first use. */
  kvBucket(name: string): MemoryKvBucket;
}

/**
 * A live subscription as the hub keeps it: one object per subscription, no
 * closures (a node holds one per user with a live stream).
 */
export interface HubLiveSubscriber {
  readonly subject: string;
  deliver(data: Uint8Array, subject: string): void;
}

interface StreamState {
  spec: StreamSpec;
  lastSeq: number;
  /** msgId -> when first stored and at which seq; pruned lazily by the caller's clock. */
  dedup: Map<string, { seq: number; at: number }>;
}

interface Pending {
  subject: string;
  data: Uint8Array;
  msgId: string;
  streamSeq: number;
  deliveryCount: number;
}

interface WorkerState {
  worker: HubWorker;
  inFlight: number;
}

interface ConsumerState {
  config: HubConsumerConfig;
  queue: Pending[];
  workers: WorkerState[];
  nextWorker: number;
  /** Deliveries neither settled nor timed out: what maxAckPending caps. */
  outstanding: number;
}

export function createMemoryHub(): MemoryHub {
  const streams = new Map<string, StreamState>();
  const consumers = new Map<string, ConsumerState>();
  // A subject's one subscriber (the usual case: a user's node), or its set of them.
  const live = new Map<string, HubLiveSubscriber | Set<HubLiveSubscriber>>();
  const kvBuckets = new Map<string, MemoryKvBucket>();

  const pickWorker = (c: ConsumerState): WorkerState | undefined => {
    for (let i = 0; i < c.workers.length; i++) {
      const w = c.workers[(c.nextWorker + i) % c.workers.length];
      if (w && w.inFlight < w.worker.concurrency) {
        c.nextWorker = (c.nextWorker + i + 1) % c.workers.length;
        return w;
      }
    }
    return undefined;
  };

  const dispatch = (c: ConsumerState): void => {
    while (c.queue.length > 0 && c.outstanding < c.config.maxAckPending) {
      const w = pickWorker(c);
      if (!w) return;
      const p = c.queue.shift();
      if (p) deliver(c, w, p);
    }
  };

  // Redeliveries go ahead of new events, as JetStream does.
  const requeue = (c: ConsumerState, p: Pending, delayMs: number): void => {
    if (delayMs <= 0) {
      c.queue.unshift(p);
      dispatch(c);
      return;
    }
    const t = setTimeout(() => {
      c.queue.unshift(p);
      dispatch(c);
    }, delayMs);
    t.unref();
  };

  const deliver = (c: ConsumerState, w: WorkerState, p: Pending): void => {
    p.deliveryCount++;
    c.outstanding++;
    w.inFlight++;
    // A delivery ends once: by its handler's verdict or by ack wait, whichever is first.
    let ended = false;
    const expire = () => {
      if (ended) return;
      ended = true;
      c.outstanding--;
      if (p.deliveryCount >= c.config.maxDeliver) {
        w.worker.logger.error("bus: poison event dropped: ack wait expired on last delivery", {
          consumer: c.config.durable,
          subject: p.subject,
          msgId: p.msgId,
          streamSeq: p.streamSeq,
          deliveryCount: p.deliveryCount,
        });
      } else {
        requeue(c, p, 0);
      }
      dispatch(c);
    };
    let timer = setTimeout(expire, c.config.ackWaitMs);
    timer.unref();
    const renew = () => {
      if (ended) return;
      clearTimeout(timer);
      timer = setTimeout(expire, c.config.ackWaitMs);
      timer.unref();
    };

    const event: BusEvent = {
      subject: p.subject,
      // A copy per delivery: a handler that mutates its bytes must not alter a redelivery.
      data: p.data.slice(),
      msgId: p.msgId,
      streamSeq: p.streamSeq,
      deliveryCount: p.deliveryCount,
    };
    void w.worker.run(event, renew).then((verdict) => {
      w.inFlight--;
      if (!ended) {
        ended = true;
        clearTimeout(timer);
        c.outstanding--;
        // The server-side maxDeliver also applies when the client's is larger.
        if (verdict.kind === "nak" && p.deliveryCount < c.config.maxDeliver) {
          requeue(c, p, verdict.delayMs);
        }
      }
      dispatch(c);
    });
  };

  return {
    counters: createMemoryWindowCounters(),
    reconcileStream(spec) {
      const existing = streams.get(spec.name);
      if (!existing) {
        streams.set(spec.name, { spec, lastSeq: 0, dedup: new Map() });
        return "created";
      }
      if (sameStream(existing.spec, spec)) return "unchanged";
      existing.spec = spec;
      return "updated";
    },

    reconcileConsumer(config) {
      const existing = consumers.get(config.durable);
      if (!existing) {
        consumers.set(config.durable, {
          config,
          queue: [],
          workers: [],
          nextWorker: 0,
          outstanding: 0,
        });
        return "created";
      }
      if (sameConsumer(existing.config, config)) return "unchanged";
      existing.config = config;
      return "updated";
    },

    publish(subject, data, msgId, now) {
      const stream = [...streams.values()].find((s) =>
        s.spec.subjects.some((pattern) => subjectMatches(pattern, subject)),
      );
      if (!stream) {
        throw new BusUnavailableError(`no stream stores subject "${subject}"`);
      }
      const seen = stream.dedup.get(msgId);
      if (seen && now - seen.at < stream.spec.duplicateWindowMs) {
        return { seq: seen.seq, duplicate: true };
      }
      // Entries sit in insertion (= time) order, so expired ones are all at the front.
      for (const [id, entry] of stream.dedup) {
        if (now - entry.at < stream.spec.duplicateWindowMs) break;
        stream.dedup.delete(id);
      }
      stream.dedup.delete(msgId);
      const seq = ++stream.lastSeq;
      stream.dedup.set(msgId, { seq, at: now });
      for (const c of consumers.values()) {
        if (c.config.streamName !== stream.spec.name) continue;
        c.queue.push({ subject, data, msgId, streamSeq: seq, deliveryCount: 0 });
        dispatch(c);
      }
      return { seq, duplicate: false };
    },

    addWorker(durable, worker) {
      const c = consumers.get(durable);
      if (!c) throw new Error(`unknown consumer "${durable}"`);
      const state: WorkerState = { worker, inFlight: 0 };
      c.workers.push(state);
      dispatch(c);
      return () => {
        const i = c.workers.indexOf(state);
        if (i >= 0) c.workers.splice(i, 1);
        c.nextWorker = 0;
      };
    },

    kvBucket(name) {
      let bucket = kvBuckets.get(name);
      if (bucket === undefined) {
        bucket = createMemoryKvBucket();
        kvBuckets.set(name, bucket);
      }
      return bucket;
    },

    publishLive(subject, data) {
      const subs = live.get(subject);
      if (subs === undefined) return;
      // Asynchronous like the network: subscribers run after the publisher continues.
      for (const sub of subs instanceof Set ? [...subs] : [subs]) {
        queueMicrotask(() => sub.deliver(data.slice(), subject));
      }
    },

    subscribeLive(sub) {
      const subs = live.get(sub.subject);
      if (subs === undefined) live.set(sub.subject, sub);
      else if (subs instanceof Set) subs.add(sub);
      else if (subs !== sub) live.set(sub.subject, new Set([subs, sub]));
    },

    unsubscribeLive(sub) {
      const subs = live.get(sub.subject);
      if (subs === sub) live.delete(sub.subject);
      else if (subs instanceof Set) {
        subs.delete(sub);
        if (subs.size === 0) live.delete(sub.subject);
      }
    },
  };
}

function sameStream(a: StreamSpec, b: StreamSpec): boolean {
  return (
    a.retention === b.retention &&
    a.storage === b.storage &&
    a.duplicateWindowMs === b.duplicateWindowMs &&
    a.maxAgeMs === b.maxAgeMs &&
    a.subjects.length === b.subjects.length &&
    a.subjects.every((s) => b.subjects.includes(s))
  );
}

function sameConsumer(a: HubConsumerConfig, b: HubConsumerConfig): boolean {
  return (
    a.streamName === b.streamName &&
    a.ackWaitMs === b.ackWaitMs &&
    a.maxDeliver === b.maxDeliver &&
    a.maxAckPending === b.maxAckPending
  );
}
