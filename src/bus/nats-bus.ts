/**
 * The NATS adapter: JetStream for durable events, core NATS for live subjects. Fails
 * fast at start when the server is unreachable; afterwards reconnects forever, and
 * re-reconciles the registry on every reconnect in case the server came back empty.
 */
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type PubAck,
} from "@nats-io/jetstream";
import {
  connect,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import type { Logger } from "../log/logger.js";
import type { Bus, ReconcileReport } from "./bus.js";
import { BusReplicasError, BusUnavailableError } from "./errors.js";
import { natsClusterOf } from "./nats-cluster.js";
import { type NatsConsumerHandle, startNatsConsumer } from "./nats-consumer.js";
import { openNatsKv } from "./nats-kv.js";
import { createNatsPeers } from "./nats-peers.js";
import { reconcileNats } from "./nats-reconcile.js";
import { retrySetup } from "./nats-setup-retry.js";
import { createNatsWindowCounters, reconcileCounterStream } from "./nats-window-counters.js";
import { type BusSettings, createBusRegistry } from "./registry.js";
import { assertLiteralSubject } from "./subject.js";
import { createTurnWrites } from "./turn-writes.js";

/** Between reconnect attempts (nats.js adds up to 100 ms of jitter). */
const RECONNECT_WAIT_MS = 500;
/** The nodes' roll call (nats-peers.ts): answers within this, */
const PEER_ANSWER_MS = 250;
/** the known nodes refreshed this often, */
const PEER_REFRESH_MS = 5000;
/** and a node missing after an outage waited for this long at most (by default). */
const PEER_WAIT_CAP_MS = 5000;

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
  /** Bound on waiting for the other nodes after an outage (see nats-peers.ts). Default 5000 ms. */
  peerWaitCapMs?: number;
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
      reconnectTimeWait: RECONNECT_WAIT_MS,
      // An Error per request for async stack traces cost ~3% CPU on the send path.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new BusUnavailableError(`cannot connect to NATS at ${where}: ${messageOf(err)}`, {
      cause: err,
    });
  }

  let countersReconciled = false;
  /**
   * The registry's streams and consumers, then the counter stream (not in the report:
   * the in-process bus has none), through the same replica checks. A refused replica
   * count stops start-up; any other failure of the counter stream is left to its first
   * use (rate limits fail open meanwhile).
   */
  const reconcile = async (jsm: JetStreamManager): Promise<ReconcileReport> => {
    const cluster = natsClusterOf(nc);
    const report = await reconcileNats(jsm, registry, logger, cluster);
    try {
      const counters = await reconcileCounterStream(jsm, registry, cluster, logger);
      countersReconciled = true;
      if (counters !== "unchanged") {
        logger.info("bus: reconciled the counter stream", { [registry.counters.stream]: counters });
      }
    } catch (err) {
      if (err instanceof BusReplicasError) throw err;
      logger.warn("bus: counter stream not reconciled; trying again on first use", { err });
    }
    return report;
  };

  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let reconcileReport: Bus["reconcileReport"];
  try {
    ({ jsm, reconcileReport } = await retrySetup(async () => {
      const manager = await jetstreamManager(nc, { timeout: publishTimeoutMs });
      return { jsm: manager, reconcileReport: await reconcile(manager) };
    }, logger));
    js = jsm.jetstream();
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
  /** The round trip the flushLive calls of this turn share (see flushLive). */
  let liveFlush: Promise<boolean> | undefined;
  const listeners = new Set<(connected: boolean) => void>();
  const consumers = new Set<NatsConsumerHandle>();
  const liveSubs = new Set<Subscription>();

  // Writes of one turn share a socket write (see turn-writes.ts).
  const writes = createTurnWrites((err) => logger.warn("bus: write failed", { err }));

  const setConnected = (value: boolean): void => {
    if (connected === value) return;
    connected = value;
    for (const listener of listeners) listener(value);
  };

  /** Connections lost so far, and whether NATS is up (before the other nodes are). */
  let disconnects = 0;
  let natsUp = true;
  const peers = createNatsPeers(nc, {
    subject: registry.peersSubject,
    logger,
    answerMs: PEER_ANSWER_MS,
    refreshMs: PEER_REFRESH_MS,
    capMs: options.peerWaitCapMs ?? PEER_WAIT_CAP_MS,
    connection: () => (natsUp ? disconnects : undefined),
  });

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        logger.warn("bus: disconnected from NATS", { server: s.server });
        disconnects++;
        natsUp = false;
        setConnected(false);
      } else if (s.type === "reconnect") {
        logger.info("bus: reconnected to NATS", { server: s.server });
        // Connected for this node's users once the other nodes are back too (see
        // nats-peers.ts): what the outbox then delivers live reaches every node.
        natsUp = true;
        const connection = disconnects;
        void peers.rejoined().then(() => {
          if (connection === disconnects && !nc.isClosed()) setConnected(true);
        });
        jetstreamManager(nc, { timeout: publishTimeoutMs })
          .then(reconcile)
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
    reconciled: countersReconciled,
    reconcileStream: async () =>
      reconcileCounterStream(
        await jetstreamManager(nc, { timeout: COUNTER_TIMEOUT_MS }),
        registry,
        natsClusterOf(nc),
        logger,
      ),
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
        const ack = await new Promise<PubAck>((resolve, reject) =>
          writes.defer(() => {
            // Still not while disconnected (it may have gone since the call).
            if (!connected) throw new Error("not connected");
            js.publish(subject, payload, {
              msgID: msgId,
              timeout: publishTimeoutMs,
              headers: toNatsHeaders(headers),
            }).then(resolve, reject);
          }, reject),
        );
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
        renewal: consumeOptions.renewal,
        logger,
        // Nothing waits on an ack: it rides with the next publish.
        defer: writes.deferLazy,
        recover: async () => {
          await reconcile(await jetstreamManager(nc, { timeout: publishTimeoutMs }));
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
      writes.defer(
        () => nc.publish(subject, payload),
        // At-most-once by contract: a dropped live event is repaired by the client's sync.
        (err) => logger.warn("bus: live publish dropped", { subject, err }),
      );
    },

    async flushLive() {
      // While disconnected a flush would wait for the reconnect; subscriptions are re-sent then.
      // Not `connected`: NATS is back while the other nodes are awaited, and a stream
      // opening meanwhile needs its subscription confirmed as much as any other.
      if (closed || !natsUp || nc.isClosed()) {
        writes.flush();
        return false;
      }
      // Streams opening together (a reconnect wave) and the outbox's live events of
      // a turn share one PING: it is the turn's last write, so after the
      // subscriptions and live publishes of every caller that joins it, and in the
      // same socket write as them. Its PONG confirms them all; nats.js rejects it
      // when the connection goes first.
      liveFlush ??= new Promise<boolean>((resolve) => {
        writes.deferLast(
          () => {
            liveFlush = undefined;
            if (nc.isClosed()) resolve(false);
            else
              nc.flush().then(
                () => resolve(true),
                () => resolve(false),
              );
          },
          () => {
            liveFlush = undefined;
            resolve(false);
          },
        );
      });
      return liveFlush;
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
        { replicas: registry.kvReplicas, cluster: natsClusterOf(nc), logger },
        publishTimeoutMs,
      );
    },

    isConnected: () => connected && !closed,
    messageCounts: () => {
      const stats = nc.stats();
      return { sent: stats.outMsgs, received: stats.inMsgs };
    },

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
      peers.stop();
      writes.flush();
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
