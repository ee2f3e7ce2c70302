/** The KV port on a JetStream KV bucket: the bucket's max age is the TTL. */
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import type { Logger } from "../log/logger.js";
import { BusReplicasError, BusUnavailableError } from "./errors.js";
import { assertKvKey, type Kv, type KvBucketOptions } from "./kv.js";
import type { NatsCluster } from "./nats-cluster.js";
import { infoOrNull } from "./nats-reconcile.js";
import { checkReplicaChange, checkReplicas, placed } from "./nats-replicas.js";
import { retrySetup } from "./nats-setup-retry.js";

/** How many copies of the bucket JetStream keeps, checked against the cluster. */
export interface KvReplicas {
  replicas: number;
  cluster: NatsCluster;
  logger: Logger;
}

export async function openNatsKv(
  nc: NatsConnection,
  bucket: string,
  { ttlMs }: KvBucketOptions,
  { replicas, cluster, logger }: KvReplicas,
  timeoutMs: number,
): Promise<Kv> {
  let kv: KV;
  const stream = `KV_${bucket}`;
  const target = { name: stream, replicas, replicaClass: "kv" as const };
  // Idempotent (an existing bucket is opened and compared), so retried while a
  // just-started cluster elects its leaders, as the start-up reconcile is.
  const setUp = async (): Promise<KV> => {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    // A replica count the cluster cannot hold is refused before anything is written
    // (a standalone server would take R3 on update and keep one copy).
    const before = await infoOrNull(() => jsm.streams.info(stream));
    if (before === null) checkReplicas(target, cluster);
    else checkReplicaChange(target, before.config.num_replicas, cluster, logger);
    const opened = await placed(target, cluster, () =>
      new Kvm(nc).create(bucket, { ttl: ttlMs, history: 1, replicas, timeout: timeoutMs }),
    );
    // Kvm.create opens an existing bucket as it is: a changed TTL or replica count is
    // applied here, as the start-up reconcile does for the registry's streams.
    const { config } = await jsm.streams.info(stream);
    const maxAge = nanos(ttlMs);
    if (config.max_age !== maxAge || config.num_replicas !== replicas) {
      // JetStream refuses a duplicate window longer than the max age (0: no max age).
      const window =
        maxAge === 0 ? config.duplicate_window : Math.min(config.duplicate_window, maxAge);
      await placed(target, cluster, () =>
        jsm.streams.update(stream, {
          ...config,
          max_age: maxAge,
          duplicate_window: window,
          num_replicas: replicas,
        }),
      );
    }
    return opened;
  };
  try {
    kv = await retrySetup(setUp, logger);
  } catch (err) {
    // A configuration error, not an outage: start-up stops with it as it is.
    if (err instanceof BusReplicasError) throw err;
    throw new BusUnavailableError(`cannot open KV bucket ${bucket}: ${messageOf(err)}`, {
      cause: err,
    });
  }
  const unavailable = (what: string, err: unknown) =>
    new BusUnavailableError(`KV ${bucket}: ${what} failed: ${messageOf(err)}`, { cause: err });
  return {
    async get(key) {
      assertKvKey(key);
      try {
        const entry = await kv.get(key);
        if (entry === null || entry.operation !== "PUT") return undefined;
        return { value: entry.value, revision: entry.revision };
      } catch (err) {
        throw unavailable("get", err);
      }
    },
    async put(key, value) {
      assertKvKey(key);
      try {
        return await kv.put(key, value);
      } catch (err) {
        throw unavailable("put", err);
      }
    },
    async create(key, value) {
      assertKvKey(key);
      try {
        return await kv.create(key, value);
      } catch (err) {
        if (isWrongSequence(err)) return undefined;
        throw unavailable("create", err);
      }
    },
    async update(key, value, revision) {
      assertKvKey(key);
      try {
        return await kv.update(key, value, revision);
      } catch (err) {
        if (isWrongSequence(err)) return undefined;
        throw unavailable("update", err);
      }
    },
    async delete(key) {
      assertKvKey(key);
      try {
        await kv.delete(key);
      } catch (err) {
        throw unavailable("delete", err);
      }
    },
    async keys(prefix) {
      if (prefix !== undefined) assertKvKey(prefix);
      try {
        const out: string[] = [];
        for await (const key of await kv.keys(prefix === undefined ? ">" : `${prefix}.>`)) {
          out.push(key);
        }
        return out;
      } catch (err) {
        throw unavailable("keys", err);
      }
    },
  };
}

// JetStream answers a failed expectation (create of an existing key, update at a stale
// revision) with "wrong last sequence" (the KV client rethrows that error as it is).
function isWrongSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
