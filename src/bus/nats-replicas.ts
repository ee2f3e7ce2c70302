/**
 * The replica checks every JetStream stream of ours goes through (the registry's
 * streams, KV buckets, the counter stream): a count the cluster cannot hold is refused
 * with BusReplicasError before JetStream is asked (a standalone server would accept
 * num_replicas 3 on update and keep one copy), the server's own placement refusal is
 * told in the same terms, and a change is logged as a warning.
 */
import { JetStreamApiError } from "@nats-io/jetstream";
import type { Logger } from "../log/logger.js";
import { BusReplicasError } from "./errors.js";
import type { NatsCluster } from "./nats-cluster.js";
import type { ReplicaClass } from "./registry.js";

/** A stream as far as its replicas go. */
export interface ReplicatedStream {
  name: string;
  replicas: number;
  replicaClass: ReplicaClass;
}

// JetStream API error codes nats.js does not name: no suitable peers for placement,
// insufficient resources, replicas > 1 not supported in non-clustered mode.
const PLACEMENT_REFUSED: readonly number[] = [10005, 10023, 10074];

/** Refuses a replica count the cluster (as the connected server describes it) cannot hold. */
export function checkReplicas(stream: ReplicatedStream, cluster: NatsCluster): void {
  if (stream.replicas > (cluster.servers ?? Number.POSITIVE_INFINITY)) {
    throw replicasError(stream, cluster);
  }
}

/** Runs a create or update of `stream`, telling a placement refusal as BusReplicasError. */
export async function placed<T>(
  stream: ReplicatedStream,
  cluster: NatsCluster,
  op: () => Promise<T>,
): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof JetStreamApiError && PLACEMENT_REFUSED.includes(err.code)) {
      throw replicasError(stream, cluster, err);
    }
    throw err;
  }
}

/**
 * Checks a replica change of an existing stream and says it out loud (scaling copies
 * a whole stream between servers); nothing when the count is unchanged.
 */
export function checkReplicaChange(
  stream: ReplicatedStream,
  from: number,
  cluster: NatsCluster,
  logger: Logger,
): void {
  if (from === stream.replicas) return;
  checkReplicas(stream, cluster);
  logger.warn("bus: changing the replicas of a stream", {
    stream: stream.name,
    from,
    to: stream.replicas,
  });
}

function replicasError(
  stream: ReplicatedStream,
  cluster: NatsCluster,
  cause?: unknown,
): BusReplicasError {
  const has = cluster.clustered
    ? `a cluster of which ${cluster.servers ?? "too few"} server(s) are up`
    : "a single server, not a cluster";
  // JetStream places replicas on servers that have joined its meta group: a cluster
  // just started may refuse until all have.
  const refused = cause instanceof Error ? ` (JetStream: ${cause.message})` : "";
  const setting = `NATS_STREAM_REPLICAS_${stream.replicaClass.toUpperCase()} or NATS_STREAM_REPLICAS`;
  return new BusReplicasError(
    `stream ${stream.name} wants ${stream.replicas} replicas (${setting}) but NATS is ` +
      `${has}${refused}; run at least ${stream.replicas} JetStream servers in one cluster ` +
      "or lower the replicas",
    cause === undefined ? undefined : { cause },
  );
}
