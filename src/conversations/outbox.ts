import type { Bus } from "../bus/bus.js";
import type { Clock } from "../common/clock.js";
import type { Logger } from "../log/logger.js";
import { noTracing, type Tracing } from "../tracing/tracing.js";
import type { ConversationKind } from "./kind.js";
import { outboxKeyOf, type SequencedMessage, type StoredMessage } from "./store.js";

/**
 * What an outbox publishes: one kind of stored record, the subject its events
 * go to and how they are encoded. Each conversation kind has one.
 */
export interface OutboxSource<R> {
  /** For logs. */
  name: string;
  subject: string;
  encode(record: R): Uint8Array;
  /** The bus dedup id (the message key, or its recall's key for a tombstone). */
  keyOf(record: R): string;
  /** Records still marked unpublished with time before `beforeMs`, oldest first. */
  selectUnpublished(beforeMs: number, limit: number): Promise<R[]>;
  countUnpublished(beforeMs: number): Promise<number>;
  /** Clears the marks of the given keys. */
  markPublished(keys: readonly string[]): Promise<void>;
}

/** A conversation kind's stored messages: its subject, payload and store. */
export function outboxSourceOf<M extends SequencedMessage, R extends StoredMessage<M>>(
  kind: Pick<
    ConversationKind<unknown, M, R, unknown>,
    "name" | "subject" | "encodeEvent" | "store"
  >,
): OutboxSource<R> {
  return {
    name: kind.name,
    subject: kind.subject,
    encode: kind.encodeEvent,
    keyOf: (r) => outboxKeyOf(r.message),
    selectUnpublished: (beforeMs, limit) => kind.store.selectUnpublished(beforeMs, limit),
    countUnpublished: (beforeMs) => kind.store.countUnpublished(beforeMs),
    markPublished: (keys) => kind.store.markPublished(keys),
  };
}

export interface OutboxDeps<R> {
  source: OutboxSource<R>;
  bus: Pick<Bus, "publish" | "isConnected">;
  clock: Clock;
  logger: Logger;
  /** How often recovery looks for unpublished messages. */
  intervalMs: number;
  /** Only messages unpublished for this long are republished (fresh ones are still in flight). */
  staleMs: number;
  /** A producer span per publish, its context carried in the event's headers; off by default. */
  tracing?: Tracing;
}

/**
 * The transactional outbox. A message is stored with an "unpublished" mark
 * before the sender is acked; this publishes it to the bus (message key as
 * dedup id) and clears the mark. Whatever a crash or a bus outage left marked,
 * the recovery loop of any process publishes later, so every acked message is
 * fanned out at least once.
 */
export interface Outbox<R> {
  /** Publishes a just-stored message in the background; never throws. */
  publish(record: R): void;
  /** One recovery pass; returns how many messages it published. */
  recover(): Promise<number>;
  /** Publishes of this process not yet confirmed by the bus (a metrics sample). */
  inFlight(): number;
  /** Messages of every process left for recovery: unpublished past the stale age (a metrics sample). */
  stale(): Promise<number>;
  start(): void;
  /** Stops the loop and waits for background publishes and marks to settle. */
  stop(): Promise<void>;
}

const RECOVERY_BATCH = 500;
const MARK_FLUSH_MS = 20;

export function createOutbox<R>(deps: OutboxDeps<R>): Outbox<R> {
  const { source, bus, clock, logger } = deps;
  const { subject } = source;
  const inFlight = new Set<Promise<void>>();
  let toMark: string[] = [];
  let markTimer: NodeJS.Timeout | undefined;
  let loopTimer: NodeJS.Timeout | undefined;
  let recovering: Promise<number> | undefined;
  let publishing = 0;
  const tracing = deps.tracing ?? noTracing;

  // Clearing marks one by one would add a write per message; batch them.
  const flushMarks = async () => {
    markTimer = undefined;
    const keys = toMark;
    toMark = [];
    if (keys.length === 0) return;
    try {
      await source.markPublished(keys);
    } catch (err) {
      // Left marked: recovery republishes them and the bus drops the duplicates.
      logger.warn("could not clear outbox marks", { count: keys.length, err });
    }
  };
  const markPublished = (key: string) => {
    toMark.push(key);
    markTimer ??= setTimeout(() => track(flushMarks()), MARK_FLUSH_MS);
  };
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const publishRecord = async (record: R, headers?: Readonly<Record<string, string>>) => {
    const key = source.keyOf(record);
    publishing++;
    try {
      await bus.publish(subject, source.encode(record), {
        msgId: key,
        ...(headers === undefined ? {} : { headers }),
      });
    } finally {
      publishing--;
    }
    markPublished(key);
  };

  const recoverOnce = async (): Promise<number> => {
    let published = 0;
    for (;;) {
      const batch = await source.selectUnpublished(clock() - deps.staleMs, RECOVERY_BATCH);
      for (const record of batch) {
        await publishRecord(record);
        published++;
      }
      if (batch.length < RECOVERY_BATCH) break;
    }
    if (published > 0) {
      logger.info("outbox republished messages", { outbox: source.name, published });
    }
    return published;
  };

  const recover = () => {
    recovering ??= recoverOnce().finally(() => {
      recovering = undefined;
    });
    return recovering;
  };

  const tick = () => {
    loopTimer = setTimeout(async () => {
      if (bus.isConnected()) {
        await recover().catch((err: unknown) =>
          logger.warn("outbox recovery pass failed", { err }),
        );
      }
      if (loopTimer !== undefined) tick();
    }, deps.intervalMs);
  };

  return {
    publish(record) {
      if (!bus.isConnected()) return;
      const published = tracing.span(
        `publish ${subject}`,
        () => publishRecord(record, tracing.enabled ? tracing.headers() : undefined),
        { kind: "producer", attributes: { "messaging.system": "nats" } },
      );
      track(
        published.catch((err: unknown) => {
          logger.debug("publish failed; the outbox will retry", {
            key: source.keyOf(record),
            err,
          });
        }),
      );
    },
    recover,
    inFlight: () => publishing,
    stale: () => source.countUnpublished(clock() - deps.staleMs),
    start() {
      if (loopTimer === undefined) tick();
    },
    async stop() {
      clearTimeout(loopTimer);
      loopTimer = undefined;
      await recovering?.catch(() => {});
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      if (markTimer !== undefined) {
        clearTimeout(markTimer);
        await flushMarks();
      }
    },
  };
}
