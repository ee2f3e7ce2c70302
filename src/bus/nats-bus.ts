/**
 * The NATS adapter: JetStream for durable events, core NATS for live subjects. Fails
 * fast at start when the server is unreachable; afterwards reconnects forever, and
 * re-reconciles the registry on every reconnect in case the server came back empty.
 */
import { type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import {
  connect,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import type { Logger } from "../log/logger.js";
import type { Bus } from "./bus.js";
import { BusReplicasError, BusUnavailableError } from "./errors.js";
import { natsClusterOf } from "./nats-cluster.js";
import { type NatsConsumerHandle, startNatsConsumer } from "./nats-consumer.js";
import { openNatsKv } from "./nats-kv.js";
import { reconcileNats } from "./nats-reconcile.js";
import { createNatsWindowCounters } from "./nats-window-counters.js";
import { type BusSettings, createBusRegistry } from "./registry.js";
import { assertLiteralSubject } from "./subject.js";

export interface NatsBusOptions {
  /**
   * e.g. nats://127.0.0.1:4222; the servers of a cluster separated by commas. The client
   * connects to one of them and reconnects across all of them (and any the cluster
   * advertises).
   */
  url: string;
  /** Defaults to "im". */
  namespace?: string;
  logger: Logger;
  settings?: Partial<BusSettings>;
  /** Bound on the first connection attempt. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Bound on each publish (and JetStream API call). Default 5000 ms. */
  publishTimeoutMs?: number;
  /** Connection name shown by the server's monitoring. */
  name?: string;
}

/**
 * Bound on one counter update: a rate-limit check sits on the send path, so
 * it gives up (and the caller fails open) long before a publish would.
 */
const COUNTER_TIMEOUT_MS = 1000;

export async function openNatsBus(options: NatsBusOptions): Promise<Bus> {
  const { url, connectTimeoutMs = 5_000, publishTimeoutMs = 5_000 } = options;
  const logger = options.logger.child({ component: "bus", backend: "nats" });
  const registry = createBusRegistry(options.namespace ?? "im", options.settings);
  const where = redactUrl(url);

  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: url.split(",").map((s) => s.trim()),
      name: options.name ?? `im-server:${registry.namespace}`,
      timeout: connectTimeoutMs,
      // Once up, never give up: the outbox and consumers ride out an outage.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // An Error per request for async stack traces cost ~3% CPU on the send path.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new BusUnavailableError(`cannot connect to NATS at ${where}: ${messageOf(err)}`, {
      cause: err,
    });
  }

  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let reconcileReport: Bus["reconcileReport"];
  try {
    jsm = await jetstreamManager(nc, { timeout: publishTimeoutMs });
    js = jsm.jetstream();
    reconcileReport = await reconcileNats(jsm, registry, logger, natsClusterOf(nc));
  } catch (err) {
    await nc.close().catch(() => undefined);
    if (err instanceof BusReplicasError) throw err;
    throw new BusUnavailableError(
      `NATS at ${where} is up but JetStream set-up failed (is it started with -js?): ${messageOf(err)}`,
      { cause: err },
    );
  }

  let connected = true;
  let closed = false;
  const listeners = new Set<(connected: boolean) => void>();
  const consumers = new Set<NatsConsumerHandle>();
  const liveSubs = new Set<Subscription>();

  const setConnected = (value: boolean): void => {
    if (connected === value) return;
    connected = value;
    for (const listener of listeners) listener(value);
  };

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        logger.warn("bus: disconnected from NATS", { server: s.server });
        setConnected(false);
      } else if (s.type === "reconnect") {
        logger.info("bus: reconnected to NATS", { server: s.server });
        setConnected(true);
        jetstreamManager(nc, { timeout: publishTimeoutMs })
          .then((jsm) => reconcileNats(jsm, registry, logger, natsClusterOf(nc)))
          .then((report) => {
            // The server came back without our consumers: pick up the recreated ones now.
            if (Object.values(report.consumers).includes("created")) {
              for (const c of consumers) c.restart();
            }
          })
          .catch((err: unknown) => logger.error("bus: reconcile after reconnect failed", { err }));
      }
    }
  })();
  void nc.closed().then(() => setConnected(false));

  const counters = createNatsWindowCounters({
    js,
    jsm: () => jetstreamManager(nc, { timeout: COUNTER_TIMEOUT_MS }),
    registry,
    timeoutMs: COUNTER_TIMEOUT_MS,
    isConnected: () => connected && !closed,
  });

  return {
    registry,
    reconcileReport,
    counters,

    async publish(subject, payload, { msgId, headers }) {
      // Not sending while disconnected: nats.js would buffer the publish and might store
      // it long after we reported failure. (A retry with the same msgId is deduped.)
      if (closed || !connected) {
        throw new BusUnavailableError(`NATS at ${where} is not connected`);
      }
      try {
        const ack = await js.publish(subject, payload, {
          msgID: msgId,
          timeout: publishTimeoutMs,
          headers: toNatsHeaders(headers),
        });
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        throw new BusUnavailableError(
          `publish to ${subject} via NATS at ${where} failed: ${messageOf(err)}`,
          { cause: err },
        );
      }
    },

    async consume(consumer, handler, consumeOptions = {}) {
      if (closed) throw new BusUnavailableError("bus is closed");
      const spec = registry.consumers[consumer];
      const running = startNatsConsumer({
        nc,
        js,
        stream: registry.streams[spec.stream].name,
        spec,
        handler,
        concurrency: consumeOptions.concurrency ?? spec.concurrency,
        logger,
        recover: async () => {
          const jsm = await jetstreamManager(nc, { timeout: publishTimeoutMs });
          await reconcileNats(jsm, registry, logger, natsClusterOf(nc));
        },
      });
      consumers.add(running);
      return {
        async stop() {
          await running.stop();
          consumers.delete(running);
        },
      };
    },

    async consumerBacklog(consumer) {
      if (closed || !connected) return undefined;
      const spec = registry.consumers[consumer];
      const info = await jsm.consumers.info(registry.streams[spec.stream].name, spec.durable);
      return { pending: info.num_pending, ackPending: info.num_ack_pending };
    },

    publishLive(subject, payload) {
      if (closed) return;
      assertLiteralSubject(subject);
      try {
        nc.publish(subject, payload);
      } catch (err) {
        // At-most-once by contract: a dropped live event is repaired by the client's sync.
        logger.warn("bus: live publish dropped", { subject, err });
      }
    },

    async flushLive() {
      // While disconnected a flush would wait for the reconnect; subscriptions are re-sent then.
      if (closed || !connected || nc.isClosed()) return;
      await nc.flush().catch(() => undefined);
    },

    subscribeLive(subject, handler) {
      if (closed) throw new BusUnavailableError("bus is closed");
      assertLiteralSubject(subject);
      const sub = nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) {
            logger.error("bus: live subscription failed", { subject, err });
            return;
          }
          try {
            handler(msg.data, msg.subject);
          } catch (handlerErr) {
            logger.error("bus: live handler threw", { subject, err: handlerErr });
          }
        },
      });
      liveSubs.add(sub);
      return () => {
        if (!liveSubs.delete(sub)) return;
        if (!nc.isClosed()) sub.unsubscribe();
      };
    },

    async openKv(name, options) {
      if (closed) throw new BusUnavailableError("bus is closed");
      return openNatsKv(
        nc,
        registry.kvBucketName(name),
        options,
        registry.settings.streamReplicas,
        publishTimeoutMs,
      );
    },

    isConnected: () => connected && !closed,

    onConnectionChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...consumers].map((c) => c.stop()));
      liveSubs.clear();
      // Drain flushes pending acks and live publishes; bounded, since it cannot finish
      // while the server is gone.
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise((resolve) => (timer = setTimeout(resolve, publishTimeoutMs)));
      await Promise.race([nc.drain().catch(() => undefined), bound]);
      clearTimeout(timer);
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    },
  };
}

function toNatsHeaders(headers: Readonly<Record<string, string>> | undefined) {
  if (headers === undefined) return undefined;
  const h = natsHeaders();
  for (const [name, value] of Object.entries(headers)) h.set(name, value);
  return h;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// Credentials in the URL must not reach logs or error messages.
function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/g, "//***@");
}
