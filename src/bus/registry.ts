/**
 * The one place that names every stream, subject and durable consumer the bus uses,
 * with their configs. Both adapters reconcile against this at start-up. Every name is
 * derived from a namespace so several deployments (or test runs) share one nats-server
 * without seeing each other.
 */

/** Tunables; defaults suit production, tests shorten the timings. */
export interface BusSettings {
  /** A repeated msgId inside this window is reported as duplicate and not stored twice. */
  duplicateWindowMs: number;
  /**
   * How long the messages stream keeps events. Only fan-out reads them and MongoDB is
   * the source of truth, so a day is plenty to ride out an outage of the workers.
   */
  maxAgeMs: number;
  /** An event not acked within this is redelivered (covers a crashed or hung handler). */
  ackWaitMs: number;
  /**
   * Per consumer overrides of `ackWaitMs`. A short one (push) hands a dead process's
   * event to another soon; its handlers then renew it while they run (`ConsumeOptions.renewal`).
   */
  ackWaitMsOf: Readonly<Partial<Record<ConsumerKey, number>>>;
  /** Deliveries before an event is given up as poison (logged and terminated). */
  maxDeliver: number;
  /** Nak delay after the n-th failed delivery; the last entry repeats. */
  backoffMs: readonly number[];
  /** Server-side cap on unacked events across all processes of one consumer. */
  maxAckPending: number;
  /** Handlers one process runs at once for one consumer. */
  concurrency: number;
  /**
   * Copies JetStream keeps of each stream (and, inherited, of its consumers): 1 on a
   * single nats-server, 3 on a cluster so a stream survives the loss of a server.
   * Must not exceed the servers of the cluster (checked at start-up).
   */
  streamReplicas: number;
  /** Per stream class overrides of `streamReplicas` (KV buckets and counters included). */
  streamReplicasOf: Readonly<Partial<Record<ReplicaClass, number>>>;
}

export const defaultBusSettings: Readonly<BusSettings> = Object.freeze({
  duplicateWindowMs: 120_000,
  maxAgeMs: 24 * 60 * 60 * 1000,
  ackWaitMs: 30_000,
  ackWaitMsOf: Object.freeze({}),
  maxDeliver: 8,
  backoffMs: Object.freeze([1_000, 5_000, 30_000, 60_000]),
  maxAckPending: 4_000,
  // Fan-out handlers mostly wait on I/O; 8 at a time left delivery tens of
  // seconds behind acks at ~1,000 msg/s (bench c2c), 128 keeps up.
  concurrency: 128,
  streamReplicas: 1,
  streamReplicasOf: Object.freeze({}),
});

/** JetStream's own ceiling on replicas per stream. */
export const MAX_STREAM_REPLICAS = 5;

/** A stream as the bus needs it; adapters translate to their own config. */
export interface StreamSpec {
  name: string;
  subjects: readonly string[];
  /** "limits": events age out by maxAge only, so consumers added later can still read. */
  retention: "limits";
  storage: "file";
  duplicateWindowMs: number;
  maxAgeMs: number;
  /** Copies kept across the cluster (1 = no replication). */
  replicas: number;
  /** Whose replica setting `replicas` is (named when a count is refused). */
  replicaClass: ReplicaClass;
}

/** A durable pull consumer shared by every process that calls `consume` on it. */
export interface ConsumerSpec {
  durable: string;
  /** Key of the stream in `BusRegistry.streams`. */
  stream: StreamKey;
  ackWaitMs: number;
  maxDeliver: number;
  backoffMs: readonly number[];
  maxAckPending: number;
  concurrency: number;
}

/** The stream classes; each may have its own replica count (`streamReplicasOf`). */
export type StreamKey = "messages" | "push" | "broadcast";
export const streamKeys: readonly StreamKey[] = Object.freeze(["messages", "push", "broadcast"]);
/**
 * What a replica count is set for: the registry's streams, every KV bucket
 * (presence, leases) and the window counters' stream.
 */
export type ReplicaClass = StreamKey | "kv" | "counters";
export const replicaClasses: readonly ReplicaClass[] = Object.freeze([
  ...streamKeys,
  "kv",
  "counters",
]);
/** The durable consumers `Bus.consume` accepts. */
export type ConsumerKey = "fanout" | "push" | "broadcast";

export interface BusRegistry {
  namespace: string;
  settings: Readonly<BusSettings>;
  streams: Readonly<Record<StreamKey, StreamSpec>>;
  consumers: Readonly<Record<ConsumerKey, ConsumerSpec>>;
  subjects: {
    /** A one-to-one message was persisted; payload is the messaging event. */
    c2cMessage: string;
    /** A group message was persisted. */
    groupMessage: string;
    /** Offline push work for a stored message (one job per message or group batch). */
    pushJob: string;
    /** One batch of a broadcast task (push to all / by tag / by attribute). */
    broadcastBatch: string;
  };
  /** Where window counters (per-user rate limits) live: a stream of their own. */
  counters: { stream: string; subjectPrefix: string; replicas: number };
  /** Copies JetStream keeps of each KV bucket. */
  kvReplicas: number;
  /** Core NATS subject every process holding a live stream for `userId` listens on. */
  liveUserSubject(userId: string): string;
  /**
   * Core NATS subject of every group's live traffic: each node listens once and
   * hands an event to its own streams of the group's members, so a message costs
   * one publish per group, not one per member.
   */
  liveGroupsSubject: string;
  /** Core NATS subject on which nodes tell each other who joined or left a group. */
  liveGroupMembershipSubject: string;
  /** Core NATS subject on which a node tells the others a device opened a stream (it replaces older ones). */
  liveDeviceClaimsSubject: string;
  /** Core NATS subject on which a device's session is ended by the server (`DeviceSessionEnd`). */
  liveSessionEndsSubject: string;
  /** The name of KV bucket `name` of this namespace. */
  kvBucketName(name: string): string;
  /** Core NATS subject on which sig invalidations and account deletions reach every node's streams. */
  liveAuthoritySubject: string;
  /** Core NATS subject on which a node tells the others which cached store facts it changed. */
  liveLookupsSubject: string;
  /** Core NATS subject of the nodes' roll call (who is back after an outage). */
  peersSubject: string;
}

// A namespace is one subject token and part of stream names, which forbid ".", "*", ">".
const NAMESPACE = /^[A-Za-z0-9_-]{1,64}$/;
const USER_ID = /^[A-Za-z0-9_-]{1,32}$/;

export function createBusRegistry(
  namespace: string,
  overrides: Partial<BusSettings> = {},
): BusRegistry {
  if (!NAMESPACE.test(namespace)) {
    throw new Error(`bus namespace must be 1-64 characters of [A-Za-z0-9_-], got "${namespace}"`);
  }
  const settings: Readonly<BusSettings> = Object.freeze({ ...defaultBusSettings, ...overrides });
  validateSettings(settings);
  const replicasOf = (c: ReplicaClass) => settings.streamReplicasOf[c] ?? settings.streamReplicas;

  const subjects = {
    c2cMessage: `${namespace}.msg.c2c`,
    groupMessage: `${namespace}.msg.group`,
    pushJob: `${namespace}.push.job`,
    broadcastBatch: `${namespace}.broadcast.batch`,
  };
  const messages: StreamSpec = {
    name: `${namespace}-messages`,
    subjects: [subjects.c2cMessage, subjects.groupMessage],
    retention: "limits",
    storage: "file",
    duplicateWindowMs: settings.duplicateWindowMs,
    maxAgeMs: settings.maxAgeMs,
    replicas: replicasOf("messages"),
    replicaClass: "messages",
  };
  const fanout: ConsumerSpec = {
    durable: `${namespace}-fanout`,
    stream: "messages",
    ackWaitMs: settings.ackWaitMsOf.fanout ?? settings.ackWaitMs,
    maxDeliver: settings.maxDeliver,
    backoffMs: settings.backoffMs,
    maxAckPending: settings.maxAckPending,
    concurrency: settings.concurrency,
  };

  // Push work has its own stream and consumer: a slow provider never holds up fan-out.
  const push: StreamSpec = {
    ...messages,
    name: `${namespace}-push`,
    subjects: [subjects.pushJob],
    replicas: replicasOf("push"),
    replicaClass: "push",
  };
  const pushConsumer: ConsumerSpec = {
    ...fanout,
    durable: `${namespace}-push`,
    stream: "push",
    ackWaitMs: settings.ackWaitMsOf.push ?? settings.ackWaitMs,
  };
  // Broadcast batches too: a broadcast to every user never delays a message's push.
  const broadcast: StreamSpec = {
    ...messages,
    name: `${namespace}-broadcast`,
    subjects: [subjects.broadcastBatch],
    replicas: replicasOf("broadcast"),
    replicaClass: "broadcast",
  };
  const broadcastConsumer: ConsumerSpec = {
    ...fanout,
    durable: `${namespace}-broadcast`,
    stream: "broadcast",
    ackWaitMs: settings.ackWaitMsOf.broadcast ?? settings.ackWaitMs,
  };

  return {
    namespace,
    settings,
    streams: { messages, push, broadcast },
    consumers: { fanout, push: pushConsumer, broadcast: broadcastConsumer },
    subjects,
    counters: {
      stream: `${namespace}-counters`,
      subjectPrefix: `${namespace}.counters`,
      replicas: replicasOf("counters"),
    },
    kvReplicas: replicasOf("kv"),
    liveUserSubject(userId) {
      // Validated here, not trusted: a '.', '*' or '>' would widen the subscription.
      if (!USER_ID.test(userId)) throw new Error(`invalid user id for live subject: "${userId}"`);
      return `${namespace}.live.user.${userId}`;
    },
    kvBucketName(name) {
      if (!NAMESPACE.test(name)) throw new Error(`invalid kv bucket name: "${name}"`);
      return `${namespace}-${name}`;
    },
    liveSessionEndsSubject: `${namespace}.live.session-ends`,
    liveGroupsSubject: `${namespace}.live.groups`,
    liveGroupMembershipSubject: `${namespace}.live.memberships`,
    liveDeviceClaimsSubject: `${namespace}.live.devices`,
    liveAuthoritySubject: `${namespace}.live.authority`,
    liveLookupsSubject: `${namespace}.live.lookups`,
    peersSubject: `${namespace}.bus.peers`,
  };
}

function validateSettings(s: BusSettings): void {
  const positive: (keyof BusSettings)[] = [
    "duplicateWindowMs",
    "maxAgeMs",
    "ackWaitMs",
    "maxDeliver",
    "maxAckPending",
    "concurrency",
    "streamReplicas",
  ];
  for (const key of positive) {
    const v = s[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new Error(`bus setting ${key} must be a positive number`);
    }
  }
  if (Object.values(s.ackWaitMsOf).some((v) => !(Number.isFinite(v) && v > 0))) {
    throw new Error("bus setting ackWaitMsOf must hold positive numbers");
  }
  const replicas = [s.streamReplicas, ...Object.values(s.streamReplicasOf)];
  if (replicas.some((r) => !Number.isInteger(r) || r < 1 || r > MAX_STREAM_REPLICAS)) {
    throw new Error(
      `bus setting streamReplicas must be an integer from 1 to ${MAX_STREAM_REPLICAS}`,
    );
  }
  // JetStream rejects a stream whose duplicate window exceeds its max age.
  if (s.duplicateWindowMs > s.maxAgeMs) {
    throw new Error("bus setting duplicateWindowMs must not exceed maxAgeMs");
  }
  if (s.backoffMs.length === 0 || s.backoffMs.some((d) => !(d >= 0))) {
    throw new Error("bus setting backoffMs must be a non-empty list of delays >= 0");
  }
}

/** Nak delay for a delivery that just failed (deliveryCount starts at 1). */
export function nakDelayMs(spec: ConsumerSpec, deliveryCount: number): number {
  const i = Math.min(Math.max(deliveryCount - 1, 0), spec.backoffMs.length - 1);
  return spec.backoffMs[i] ?? 0;
}
