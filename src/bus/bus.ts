/**
 * The message bus port: what messaging needs from NATS, and nothing more. Two adapters
 * implement it (`openNatsBus`, `createMemoryBus`); only `src/bus` knows which one runs.
 */
import type { Kv, KvBucketOptions } from "./kv.js";
import type { BusRegistry, ConsumerKey } from "./registry.js";
import type { WindowCounters } from "./window-counters.js";

export interface PublishOptions {
  /**
   * Dedup id (the message key). A repeat inside the duplicate window is accepted but
   * reported as `duplicate` and not stored twice, so outbox retries are harmless.
   */
  msgId: string;
  /** Extra headers stored with the event (trace context: `traceparent`, `tracestate`). */
  headers?: Readonly<Record<string, string>>;
}

export interface PublishResult {
  /** Stream sequence of the stored event (of the original one for a duplicate). */
  seq: number;
  duplicate: boolean;
}

/** One delivery of a durable event to a `consume` handler. */
export interface BusEvent {
  subject: string;
  data: Uint8Array;
  /** The msgId it was published with. */
  msgId: string | undefined;
  /** Position in the stream; stable across redeliveries. */
  streamSeq: number;
  /** 1 on the first delivery; grows on every redelivery. */
  deliveryCount: number;
  /** A header it was published with (trace context); undefined when absent. */
  header?(name: string): string | undefined;
}

/** How far a durable consumer is behind, from the server's consumer info. */
export interface ConsumerBacklog {
  /** Events in the stream not yet delivered to the consumer. */
  pending: number;
  /** Events delivered but not yet acked. */
  ackPending: number;
}

/**
 * Resolves: the event is acked. Throws: nak with backoff and redelivered, until the
 * consumer's maxDeliver, then logged and terminated. Throw `PoisonEventError` to
 * terminate at once (e.g. an undecodable payload). Must be idempotent: delivery is
 * at-least-once.
 */
export type EventHandler = (event: BusEvent) => Promise<void>;

export interface ConsumeOptions {
  /** Handlers this process runs at once; defaults to the registry's consumer config. */
  concurrency?: number;
  /**
   * Renews a running handler's ack wait (JetStream "in progress") every third of
   * the consumer's ackWaitMs, so a short ack wait hands the events of a dead
   * process to another soon without redelivering those still being worked. A
   * handler still running `maxMs` after its delivery is taken for hung: renewals
   * stop and its event is redelivered (to any process) once ack wait passes,
   * while the hung handler is left to finish or not. Without it an event is
   * redelivered after ackWaitMs however long its handler runs.
   */
  renewal?: { maxMs: number };
}

export interface ConsumerHandle {
  /** Stops taking events and resolves once the in-flight handlers have settled. */
  stop(): Promise<void>;
}

/** Live (at-most-once) message handler; exceptions are logged, never propagated. */
export type LiveHandler = (data: Uint8Array, subject: string) => void;

export type ReconcileAction = "created" | "updated" | "unchanged";

/** What start-up did to each stream and durable consumer, by name. */
export interface ReconcileReport {
  streams: Record<string, ReconcileAction>;
  consumers: Record<string, ReconcileAction>;
}

export interface Bus {
  readonly registry: BusRegistry;
  readonly reconcileReport: ReconcileReport;
  /** Counters per time window shared by every process on the bus (rate limits). */
  readonly counters: WindowCounters;

  /**
   * Durable publish. Resolves once the event is stored; rejects with
   * `BusUnavailableError` within the publish timeout when the bus cannot store it
   * (unreachable, no stream for the subject, closed). A rejected publish may still
   * have been stored: retry with the same msgId.
   */
  publish(subject: string, payload: Uint8Array, options: PublishOptions): Promise<PublishResult>;

  /** Joins the shared work of a durable consumer: each event goes to one process. */
  consume(
    consumer: ConsumerKey,
    handler: EventHandler,
    options?: ConsumeOptions,
  ): Promise<ConsumerHandle>;

  /** The consumer's backlog (JetStream consumer info); undefined when the bus has none to report. */
  consumerBacklog?(consumer: ConsumerKey): Promise<ConsumerBacklog | undefined>;

  /** Fire-and-forget, at-most-once; to every current subscriber of `subject` in any process. */
  publishLive(subject: string, payload: Uint8Array): void;

  /** Subscribes to an exact live subject (no wildcards); returns the unsubscribe function. */
  subscribeLive(subject: string, handler: LiveHandler): () => void;

  /**
   * Resolves once the bus server has registered every live subscription made so
   * far, so live events published from any process after it reach them, and has
   * taken every live event this process published before the call. Never
   * rejects: while disconnected it resolves at once (subscriptions are re-sent on
   * reconnect). True when the server confirmed it; false when it could not (down,
   * closed, or the connection went meanwhile: live events written on it may be lost).
   */
  flushLive(): Promise<boolean>;

  /**
   * Opens (creating it if missing) the KV bucket `name` of this namespace. Rejects with
   * `BusUnavailableError` when the bus cannot reach its server.
   */
  openKv(name: string, options: KvBucketOptions): Promise<Kv>;

  /**
   * True while the connection to the bus is up (publish will be attempted); after an
   * outage, only once the other nodes are back too (or had their time), so a live
   * event published then reaches every node's streams.
   */
  isConnected(): boolean;

  /**
   * Messages this node sent to and received from the bus server since it
   * connected (publishes, KV and JetStream requests and their replies,
   * deliveries), for benchmarks; undefined for the in-process bus.
   */
  messageCounts(): BusMessageCounts | undefined;

  /** Calls `listener` on every change of `isConnected()`; returns the unsubscribe function. */
  onConnectionChange(listener: (connected: boolean) => void): () => void;

  /** Stops consumers (draining in-flight handlers), drops live subscriptions, disconnects. */
  close(): Promise<void>;
}

/** Bus traffic of one node, counted by its client (`Bus.messageCounts`). */
export interface BusMessageCounts {
  sent: number;
  received: number;
}
