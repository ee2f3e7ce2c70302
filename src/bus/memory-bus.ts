/**
 * In-process bus for the embedded default (and fast tests). Same semantics as the NATS
 * adapter, with these differences:
 * - not durable: events and consumer state live in memory and die with the process;
 *   an event published before a consumer was first reconciled is not delivered to it;
 * - the duplicate window is judged with the injected clock, while ack wait and nak
 *   delays use real timers;
 * - "processes" are buses sharing one `MemoryHub`; without a hub each bus has its own.
 */
import type { Clock } from "../common/clock.js";
import type { Logger } from "../log/logger.js";
import type { Bus, ConsumerHandle, LiveHandler, ReconcileReport } from "./bus.js";
import { BusUnavailableError } from "./errors.js";
import { handleEvent } from "./handle-event.js";
import { createInFlight } from "./in-flight.js";
import { createMemoryHub, type HubLiveSubscriber, type MemoryHub } from "./memory-hub.js";
import { createMemoryKv } from "./memory-kv.js";
import { type BusSettings, createBusRegistry } from "./registry.js";
import { renewWhileRunning } from "./renewal.js";
import { assertLiteralSubject } from "./subject.js";

export interface MemoryBusOptions {
  /** Defaults to "im". */
  namespace?: string;
  clock: Clock;
  logger: Logger;
  settings?: Partial<BusSettings>;
  /** Share one hub between buses to model several processes on one server. */
  hub?: MemoryHub;
}

export function createMemoryBus(options: MemoryBusOptions): Bus {
  const { clock, settings } = options;
  const logger = options.logger.child({ component: "bus", backend: "memory" });
  const hub = options.hub ?? createMemoryHub();
  const registry = createBusRegistry(options.namespace ?? "im", settings);

  const reconcileReport: ReconcileReport = { streams: {}, consumers: {} };
  for (const spec of Object.values(registry.streams)) {
    reconcileReport.streams[spec.name] = hub.reconcileStream(spec);
  }
  for (const spec of Object.values(registry.consumers)) {
    reconcileReport.consumers[spec.durable] = hub.reconcileConsumer({
      durable: spec.durable,
      streamName: registry.streams[spec.stream].name,
      ackWaitMs: spec.ackWaitMs,
      maxDeliver: spec.maxDeliver,
      maxAckPending: spec.maxAckPending,
    });
  }

  let closed = false;
  const handles = new Set<ConsumerHandle>();
  const liveSubs = new Set<LiveSubscription>();
  const liveState: LiveState = { hub, liveSubs, logger };
  const listeners = new Set<(connected: boolean) => void>();

  return {
    registry,
    reconcileReport,
    counters: hub.counters,

    async publish(subject, payload, { msgId }) {
      if (closed) throw new BusUnavailableError("bus is closed");
      assertLiteralSubject(subject);
      // Copied: the caller may reuse its buffer once publish resolves.
      return hub.publish(subject, payload.slice(), msgId, clock());
    },

    async consume(consumer, handler, consumeOptions = {}) {
      if (closed) throw new BusUnavailableError("bus is closed");
      const spec = registry.consumers[consumer];
      const inFlight = createInFlight();
      const removeWorker = hub.addWorker(spec.durable, {
        concurrency: consumeOptions.concurrency ?? spec.concurrency,
        logger,
        run: (event, renew) => {
          const handled = handleEvent(handler, event, spec, logger);
          const { renewal } = consumeOptions;
          const verdict =
            renewal === undefined
              ? handled
              : renewWhileRunning(handled, renew, {
                  ackWaitMs: spec.ackWaitMs,
                  maxMs: renewal.maxMs,
                  event,
                  durable: spec.durable,
                  logger,
                });
          inFlight.track(verdict);
          return verdict;
        },
      });
      let stopping: Promise<void> | undefined;
      const handle: ConsumerHandle = {
        stop() {
          stopping ??= (async () => {
            removeWorker();
            if (!(await inFlight.drain(spec.ackWaitMs))) {
              logger.warn("bus: consumer stopped with handlers still running", {
                consumer: spec.durable,
                inFlight: inFlight.size,
              });
            }
            handles.delete(handle);
          })();
          return stopping;
        },
      };
      handles.add(handle);
      return handle;
    },

    publishLive(subject, payload) {
      if (closed) return;
      assertLiteralSubject(subject);
      hub.publishLive(subject, payload.slice());
    },

    // In-process subscriptions and live events take effect immediately.
    flushLive: async () => !closed,

    subscribeLive(subject, handler) {
      if (closed) throw new BusUnavailableError("bus is closed");
      assertLiteralSubject(subject);
      const sub = new LiveSubscription(subject, handler, liveState);
      hub.subscribeLive(sub);
      liveSubs.add(sub);
      return sub.remove.bind(sub);
    },

    async openKv(name, { ttlMs }) {
      if (closed) throw new BusUnavailableError("bus is closed");
      return createMemoryKv(hub.kvBucket(registry.kvBucketName(name)), ttlMs, clock);
    },

    isConnected: () => !closed,
    messageCounts: () => undefined,

    onConnectionChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const sub of [...liveSubs]) sub.remove();
      await Promise.all([...handles].map((h) => h.stop()));
      for (const listener of listeners) listener(false);
    },
  };
}

interface LiveState {
  hub: MemoryHub;
  liveSubs: Set<LiveSubscription>;
  logger: Logger;
}

/** One subscription: an object, not closures (a node holds one per user with a live stream). */
class LiveSubscription implements HubLiveSubscriber {
  constructor(
    readonly subject: string,
    private readonly handler: LiveHandler,
    private readonly state: LiveState,
  ) {}

  deliver(data: Uint8Array, subject: string): void {
    try {
      this.handler(data, subject);
    } catch (err) {
      this.state.logger.error("bus: live handler threw", { subject, err });
    }
  }

  remove(): void {
    this.state.hub.unsubscribeLive(this);
    this.state.liveSubs.delete(this);
  }
}
