import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Logger } from "../log/logger.js";
import type { ReconcileAction } from "./bus.js";
import { BusUnavailableError } from "./errors.js";
import type { NatsCluster } from "./nats-cluster.js";
import { infoOrNull } from "./nats-reconcile.js";
import { checkReplicaChange, checkReplicas, placed } from "./nats-replicas.js";
import type { BusRegistry } from "./registry.js";
import { counterWindow, MAX_COUNTER_WINDOW_MS, type WindowCounters } from "./window-counters.js";

/** Attempts of one increment that lost a race with another process. */
const MAX_ATTEMPTS = 10;
/** Known counts are kept this many per process; older ones are fetched again when needed. */
const KNOWN_MAX = 100_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Window counters in a JetStream stream (what a KV bucket is underneath):
 * one subject per scope, id and window, keeping only its last message, the
 * count. An increment is a compare-and-set publish that expects the subject's
 * last sequence to be the one this process last saw, so two processes never
 * both write the same count: the loser reads the current count and retries.
 * In steady state (one process counting a user) an increment is one publish.
 * The stream is in memory: counters outlive no restart of the NATS server,
 * which only resets the windows in progress.
 */
export function createNatsWindowCounters(deps: {
  js: JetStreamClient;
  jsm: () => Promise<JetStreamManager>;
  registry: BusRegistry;
  /** Whether the bus reconciled the counter stream at start. */
  reconciled: boolean;
  /** Creates or corrects the counter stream (`reconcileCounterStream`). */
  reconcileStream: () => Promise<unknown>;
  timeoutMs: number;
  /** False while disconnected: an increment then fails at once instead of waiting out its timeout. */
  isConnected: () => boolean;
}): WindowCounters {
  const { js, registry, timeoutMs } = deps;
  const { stream, subjectPrefix } = registry.counters;
  /** subject -> the count and its stream sequence as this process last saw them. */
  const known = new Map<string, { count: number; seq: number }>();
  let ensured: Promise<void> | undefined = deps.reconciled ? Promise.resolve() : undefined;

  /** Creates or corrects the stream unless the bus did at start, or again once it went missing. */
  const ensureStream = (): Promise<void> => {
    ensured ??= deps.reconcileStream().then(
      () => undefined,
      (err: unknown) => {
        ensured = undefined;
        throw err;
      },
    );
    return ensured;
  };

  const fetchCount = async (subject: string): Promise<{ count: number; seq: number }> => {
    const jsm = await deps.jsm();
    const stored = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    if (stored === null) return { count: 0, seq: 0 };
    return { count: Number(decoder.decode(stored.data)) || 0, seq: stored.seq };
  };

  /** Increments of one subject in this process, one after another (see `increment`). */
  const queues = new Map<string, Promise<unknown>>();

  const incrementNow = async (subject: string, by: number): Promise<number> => {
    if (!deps.isConnected()) throw new BusUnavailableError("NATS is not connected");
    await ensureStream();
    for (let attempt = 1; ; attempt++) {
      const seen = known.get(subject) ?? { count: 0, seq: 0 };
      const count = seen.count + by;
      try {
        const ack = await js.publish(subject, encoder.encode(String(count)), {
          expect: { lastSubjectSequence: seen.seq },
          timeout: timeoutMs,
        });
        if (known.size >= KNOWN_MAX) known.clear();
        known.set(subject, { count, seq: ack.seq });
        return count;
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS) throw err;
        if (
          err instanceof JetStreamApiError &&
          err.code === JetStreamApiCodes.StreamWrongLastSequence
        ) {
          // Another process counted since: read the count and try again.
          known.set(subject, await fetchCount(subject));
          continue;
        }
        // No stream answers the subject: the server lost it (restarted empty).
        // (nats.js reports a request without responders as JetStreamNotEnabled, not exported.)
        if (!(err instanceof Error && err.name === "JetStreamNotEnabled")) throw err;
        ensured = undefined;
        await ensureStream();
        known.delete(subject);
      }
    }
  };

  return {
    async increment(scope, id, windowMs, nowMs, by = 1) {
      const window = counterWindow(scope, id, windowMs, nowMs, by);
      const subject = `${subjectPrefix}.${scope}.${windowMs}.${id}.${window}`;
      // Queued per subject: concurrent increments in one process would all
      // expect the same last sequence and all but one lose, over and over.
      const previous = queues.get(subject) ?? Promise.resolve();
      const result = previous.then(
        () => incrementNow(subject, by),
        () => incrementNow(subject, by),
      );
      const tail = result.catch(() => undefined);
      queues.set(subject, tail);
      void tail.then(() => {
        if (queues.get(subject) === tail) queues.delete(subject);
      });
      return result;
    },
  };
}

/**
 * Creates the counter stream, or brings it in line with the registry: a changed
 * replica count is checked against the cluster, logged and applied, like the
 * registry's streams (nats-reconcile.ts).
 */
export async function reconcileCounterStream(
  jsm: JetStreamManager,
  registry: BusRegistry,
  cluster: NatsCluster,
  logger: Logger,
): Promise<ReconcileAction> {
  const { stream, subjectPrefix, replicas } = registry.counters;
  const target = { name: stream, replicas, replicaClass: "counters" as const };
  const desired = {
    subjects: [`${subjectPrefix}.>`],
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: 1,
    max_age: nanos(2 * MAX_COUNTER_WINDOW_MS),
    duplicate_window: nanos(1000),
    num_replicas: replicas,
  };
  const current = await infoOrNull(() => jsm.streams.info(stream));
  if (current === null) {
    checkReplicas(target, cluster);
    await placed(target, cluster, () =>
      jsm.streams.add({
        name: stream,
        retention: RetentionPolicy.Limits,
        storage: StorageType.Memory,
        ...desired,
      }),
    );
    return "created";
  }
  const c = current.config;
  const same =
    c.subjects?.length === 1 &&
    c.subjects[0] === desired.subjects[0] &&
    c.discard === desired.discard &&
    c.max_msgs_per_subject === desired.max_msgs_per_subject &&
    c.max_age === desired.max_age &&
    c.duplicate_window === desired.duplicate_window &&
    c.num_replicas === desired.num_replicas;
  if (same) return "unchanged";
  checkReplicaChange(target, c.num_replicas, cluster, logger);
  await placed(target, cluster, () => jsm.streams.update(stream, desired));
  return "updated";
}
