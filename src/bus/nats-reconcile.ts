/**
 * Brings the server's streams and durable consumers in line with the registry:
 * create what is missing, update what drifted, leave equal ones alone. Fields JetStream
 * cannot change in place (storage, retention, ack and deliver policy) fail loudly
 * instead of being silently ignored. A replica count is applied in place (JetStream
 * scales a stream up or down and moves its copies), after checking the cluster has
 * enough servers for it (nats-replicas.ts). The counter stream and KV buckets are not
 * in the registry; they go through the same checks (`reconcileCounterStream`,
 * nats-kv.ts).
 */
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Logger } from "../log/logger.js";
import type { ReconcileAction, ReconcileReport } from "./bus.js";
import type { NatsCluster } from "./nats-cluster.js";
import { checkReplicaChange, checkReplicas, placed } from "./nats-replicas.js";
import type { BusRegistry, ConsumerSpec, StreamSpec } from "./registry.js";

export async function reconcileNats(
  jsm: JetStreamManager,
  registry: BusRegistry,
  logger: Logger,
  cluster: NatsCluster,
): Promise<ReconcileReport> {
  const report: ReconcileReport = { streams: {}, consumers: {} };
  for (const spec of Object.values(registry.streams)) {
    report.streams[spec.name] = await reconcileStream(jsm, spec, cluster, logger);
  }
  for (const spec of Object.values(registry.consumers)) {
    const stream = registry.streams[spec.stream].name;
    report.consumers[spec.durable] = await reconcileConsumer(jsm, stream, spec);
  }
  const changed = [...Object.entries(report.streams), ...Object.entries(report.consumers)].filter(
    ([, action]) => action !== "unchanged",
  );
  if (changed.length > 0) logger.info("bus: reconciled registry", { changes: changed });
  return report;
}

async function reconcileStream(
  jsm: JetStreamManager,
  spec: StreamSpec,
  cluster: NatsCluster,
  logger: Logger,
): Promise<ReconcileAction> {
  const desired = {
    subjects: [...spec.subjects],
    duplicate_window: nanos(spec.duplicateWindowMs),
    max_age: nanos(spec.maxAgeMs),
    num_replicas: spec.replicas,
  };
  const current = await infoOrNull(() => jsm.streams.info(spec.name));
  if (!current) {
    checkReplicas(spec, cluster);
    const config: Partial<StreamConfig> & { name: string } = {
      name: spec.name,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      ...desired,
    };
    await placed(spec, cluster, () => jsm.streams.add(config));
    return "created";
  }
  const c = current.config;
  immutable(`stream ${spec.name}`, "storage", c.storage, StorageType.File);
  immutable(`stream ${spec.name}`, "retention", c.retention, RetentionPolicy.Limits);
  const same =
    sameSet(c.subjects ?? [], desired.subjects) &&
    c.duplicate_window === desired.duplicate_window &&
    c.max_age === desired.max_age &&
    c.num_replicas === desired.num_replicas;
  if (same) return "unchanged";
  checkReplicaChange(spec, c.num_replicas, cluster, logger);
  await placed(spec, cluster, () => jsm.streams.update(spec.name, desired));
  return "updated";
}

async function reconcileConsumer(
  jsm: JetStreamManager,
  stream: string,
  spec: ConsumerSpec,
): Promise<ReconcileAction> {
  // Backoff and concurrency are applied by our client, not stored on the server:
  // server-side `backoff` would replace ack wait as the redelivery timer.
  const desired = {
    ack_wait: nanos(spec.ackWaitMs),
    max_deliver: spec.maxDeliver,
    max_ack_pending: spec.maxAckPending,
  };
  const current = await infoOrNull(() => jsm.consumers.info(stream, spec.durable));
  if (!current) {
    const config: Partial<ConsumerConfig> = {
      durable_name: spec.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      replay_policy: ReplayPolicy.Instant,
      ...desired,
    };
    await jsm.consumers.add(stream, config);
    return "created";
  }
  const c = current.config;
  const what = `consumer ${spec.durable} on stream ${stream}`;
  immutable(what, "ack_policy", c.ack_policy, AckPolicy.Explicit);
  immutable(what, "deliver_policy", c.deliver_policy, DeliverPolicy.All);
  immutable(what, "deliver_subject (push consumer)", c.deliver_subject, undefined);
  const same =
    c.ack_wait === desired.ack_wait &&
    c.max_deliver === desired.max_deliver &&
    c.max_ack_pending === desired.max_ack_pending;
  if (same) return "unchanged";
  await jsm.consumers.update(stream, spec.durable, desired);
  return "updated";
}

/** The info `get` answers, or null when the stream or consumer does not exist. */
export async function infoOrNull<T>(get: () => Promise<T>): Promise<T | null> {
  try {
    return await get();
  } catch (err) {
    if (
      err instanceof JetStreamApiError &&
      (err.code === JetStreamApiCodes.StreamNotFound ||
        err.code === JetStreamApiCodes.ConsumerNotFound)
    ) {
      return null;
    }
    throw err;
  }
}

function immutable(what: string, field: string, actual: unknown, expected: unknown): void {
  if (actual !== expected) {
    throw new Error(
      `${what} has ${field}=${String(actual)} but the registry wants ${String(expected)}; ` +
        "JetStream cannot change it in place: delete it or use another namespace",
    );
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s) => b.includes(s));
}
