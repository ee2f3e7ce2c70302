import type { Bus } from "../bus/bus.js";
import type { Clock } from "../common/clock.js";
import type { Logger } from "../log/logger.js";
import { noTracing, type Tracing } from "../tracing/tracing.js";
import { deliverLiveOf } from "./fanout.js";
import type { ConversationKind } from "./kind.js";
import type { RecoveryLease } from "./recovery-lease.js";
import { outboxKeyOf, type SequencedMessage, type StoredMessage, versionRank } from "./store.js";

/**
 * What an outbox publishes: one kind of stored record, the subject its events
 * go to and how they are encoded. Each conversation kind has one.
 */
export interface OutboxSource<R> {
  /** For logs. */
  name: string;
  subject: string;
  encode(record: R, liveSent: boolean): Uint8Array;
  /** Live delivery of the record on every node (core NATS: no JetStream leader needed). */
  deliverLive(record: R): void;
  /** The bus dedup id (the message key, or its recall's key for a tombstone). */
  keyOf(record: R): string;
  messageOf(record: R): SequencedMessage;
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
    | "name"
    | "subject"
    | "encodeEvent"
    | "store"
    | "deliverLive"
    | "deliverRecalled"
    | "deliverEdited"
  >,
): OutboxSource<R> {
  return {
    name: kind.name,
    subject: kind.subject,
    encode: kind.encodeEvent,
    deliverLive: (r) => deliverLiveOf(kind, r.message, r.skipSyncToSender),
    keyOf: (r) => outboxKeyOf(r.message),
    messageOf: (r) => r.message,
    selectUnpublished: (beforeMs, limit) => kind.store.selectUnpublished(beforeMs, limit),
    countUnpublished: (beforeMs) => kind.store.countUnpublished(beforeMs),
    markPublished: (keys) => kind.store.markPublished(keys),
  };
}

/**
 * Whether a record's fan-out has work beyond the live delivery its storing node
 * does (webhooks, push): see `fanoutWorkOf`. Without any, the live delivery,
 * once the bus server confirmed it, is the whole fan-out.
 */
export interface FanoutWork<R> {
  needed(record: R): boolean;
  /** The record's fan-out was its confirmed live delivery alone (metered as fanned out). */
  doneLive(record: R): void;
}

export interface OutboxDeps<R> {
  source: OutboxSource<R>;
  bus: Pick<Bus, "publish" | "flushLive" | "isConnected" | "onConnectionChange">;
  clock: Clock;
  logger: Logger;
  /** How often recovery looks for unpublished messages. */
  intervalMs: number;
  /**
   * Only messages unpublished for this long are republished from the store, and only
   * once the bus has been connected this long (their own nodes go first).
   */
  staleMs: number;
  /** Whether this node runs the store pass now (one node of many); always when unset. */
  recoveryLease?: RecoveryLease;
  /** A producer span per publish, its context carried in the event's headers; off by default. */
  tracing?: Tracing;
  /** Unset: every record is published to the bus for fan-out. */
  fanoutWork?: FanoutWork<R>;
}

/**
 * The transactional outbox. A message is stored with an "unpublished" mark
 * before the sender is acked; this publishes it to the bus (message key as
 * dedup id) and clears the mark. What the bus did not take (down, or a publish
 * failed) the storing node keeps and publishes again as soon as the bus is back,
 * so each is republished by one node only. Whatever a crash left marked, the
 * store pass of one node (the recovery lease holder) publishes later, so every
 * acked message is fanned out at least once.
 *
 * A record delivered live whose fan-out has nothing else to do (`FanoutWork`)
 * is not published: once the bus server confirms its live event, the mark is
 * cleared. A crash before that leaves the mark to the store pass, which
 * publishes it (not delivered live), so fan-out delivers it.
 */
export interface Outbox<R> {
  /**
   * Delivers a just-stored message live at once, then publishes it to the bus in
   * the background (or, with no fan-out work, awaits the live event's
   * confirmation); never throws. While the bus is down, recovery does both later.
   */
  publish(record: R): void;
  /** One pass: this node's own unpublished messages, then (lease holder) the store's stale ones; returns how many it published. */
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
/** Own unpublished messages kept in memory; past this, the store pass publishes them. */
const PENDING_MAX = 10_000;

export function createOutbox<R>(deps: OutboxDeps<R>): Outbox<R> {
  const { source, bus, clock, logger } = deps;
  const { subject } = source;
  const inFlight = new Set<Promise<void>>();
  /**
   * Own messages the bus has not taken yet, by message key (only a message's latest
   * version: the store pass would find that one too), oldest first; `live`: delivered live.
   */
  const pending = new Map<string, { record: R; live: boolean }>();
  // Real elapsed time (reconnects happen in it), whatever clock the messages use.
  let connectedSince = bus.isConnected() ? performance.now() : undefined;
  /** Connections lost so far: a publish that saw one go may have lost its live event with it. */
  let disconnects = 0;
  /** Own messages being published or awaiting their mark's clearing: not stale, in flight. */
  const unmarked = new Set<string>();
  let toMark: string[] = [];
  let markTimer: NodeJS.Timeout | undefined;
  let loopTimer: NodeJS.Timeout | undefined;
  let stopped = false;
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
      logger.warn("could not clear outbox marks", { count: keys.length, err });
      if (!stopped) {
        // Retried by this node (the store is down: nothing new is stored meanwhile);
        // left to the store pass, they would be republished and delivered live again.
        toMark.push(...keys);
        markTimer ??= setTimeout(() => track(flushMarks()), deps.intervalMs);
        return;
      }
    }
    for (const key of keys) unmarked.delete(key);
  };
  const markPublished = (key: string) => {
    toMark.push(key);
    markTimer ??= setTimeout(() => track(flushMarks()), MARK_FLUSH_MS);
  };
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  /**
   * Runs `step` for an own record (its outbox key), the key in flight meanwhile (not
   * stale to the store pass), then clears its mark if `done` says the step did its fan-out.
   */
  const clearingMark = async <T>(
    key: string,
    step: () => Promise<T>,
    done: (result: T) => boolean,
  ): Promise<T> => {
    publishing++;
    unmarked.add(key);
    let result: T;
    try {
      result = await step();
    } catch (err) {
      unmarked.delete(key);
      throw err;
    } finally {
      publishing--;
    }
    if (done(result)) markPublished(key);
    else unmarked.delete(key);
    return result;
  };
  /** Publishes and clears the mark; true when the bus had it already (another node's publish). */
  const publishRecord = async (
    record: R,
    liveSent: boolean,
    headers?: Readonly<Record<string, string>>,
  ): Promise<boolean> => {
    const key = source.keyOf(record);
    const { duplicate } = await clearingMark(
      key,
      () =>
        bus.publish(subject, source.encode(record, liveSent), {
          msgId: key,
          ...(headers === undefined ? {} : { headers }),
        }),
      () => true,
    );
    return duplicate;
  };
  /**
   * Clears the mark once the bus server confirmed the live event: a PING per turn
   * (shared by every record and stream of it) instead of a JetStream publish, its
   * fan-out delivery and ack per record. False: not confirmed.
   */
  const confirmLive = async (record: R): Promise<boolean> => {
    const connection = disconnects;
    // A PONG after a reconnect confirms what was re-sent to the server, not that the
    // other nodes had resubscribed by then: as on the publish path, a connection lost
    // meanwhile counts as unconfirmed, and the event is delivered again.
    const confirmed = await clearingMark(
      source.keyOf(record),
      async () => (await bus.flushLive()) && disconnects === connection,
      (ok) => ok,
    );
    if (confirmed) deps.fanoutWork?.doneLive(record);
    return confirmed;
  };
  const logRepublished = (record: R, by: "own" | "store", duplicate: boolean) =>
    logger.debug(duplicate ? "outbox mark of a message already on the bus" : "outbox republished", {
      outbox: source.name,
      key: source.keyOf(record),
      by,
    });
  /** Keeps an own message for this node to publish again (beyond the cap: the store pass). */
  const keep = (record: R, live: boolean) => {
    const key = source.messageOf(record).messageKey;
    const kept = pending.get(key);
    if (kept !== undefined) {
      // A recall or edit kept before an older version's publish failed stays.
      if (versionRank(source.messageOf(kept.record)) > versionRank(source.messageOf(record)))
        return;
    } else if (pending.size >= PENDING_MAX) return;
    pending.set(key, { record, live });
  };

  const connectedFor = () =>
    connectedSince === undefined ? -1 : performance.now() - connectedSince;

  /**
   * Publishes this node's own pending messages, oldest first, until one fails (the bus
   * counts as connected once every node is back, so the live events reach all devices).
   */
  const publishPending = async (): Promise<number> => {
    let published = 0;
    for (const [key, entry] of pending) {
      if (!bus.isConnected()) break;
      if (!entry.live) {
        source.deliverLive(entry.record);
        entry.live = true;
      }
      let duplicate: boolean;
      try {
        duplicate = await publishRecord(entry.record, true);
      } catch {
        break;
      }
      // Unless a newer version was kept meanwhile.
      if (pending.get(key) === entry) pending.delete(key);
      logRepublished(entry.record, "own", duplicate);
      if (!duplicate) published++;
    }
    return published;
  };

  /** Stale marked messages of any node, minus this node's own pending or in-flight ones. */
  const publishStale = async (): Promise<number> => {
    let published = 0;
    for (;;) {
      const batch = await source.selectUnpublished(clock() - deps.staleMs, RECOVERY_BATCH);
      let fromBatch = 0;
      for (const record of batch) {
        const key = source.keyOf(record);
        if (pending.has(source.messageOf(record).messageKey) || unmarked.has(key)) continue;
        // A duplicate: its node published it and had not cleared the mark yet.
        const duplicate = await publishRecord(record, false);
        logRepublished(record, "store", duplicate);
        if (!duplicate) published++;
        fromBatch++;
      }
      // A full batch of skipped ones (own, or marks not cleared yet) would come back
      // again at once: the next pass goes on.
      if (batch.length < RECOVERY_BATCH || fromBatch === 0) break;
    }
    return published;
  };

  const recoverOnce = async (): Promise<number> => {
    const own = await publishPending();
    const settled = connectedFor() >= deps.staleMs;
    const stale =
      settled && (await (deps.recoveryLease?.holds() ?? true)) ? await publishStale() : 0;
    if (own + stale > 0) {
      logger.info("outbox republished messages", { outbox: source.name, own, stale });
    }
    return own + stale;
  };

  const recover = () => {
    recovering ??= recoverOnce().finally(() => {
      recovering = undefined;
    });
    return recovering;
  };
  const recoverLogged = () =>
    recover().catch((err: unknown) => logger.warn("outbox recovery pass failed", { err }));

  const unfollow = bus.onConnectionChange((connected) => {
    connectedSince = connected ? performance.now() : undefined;
    if (!connected) disconnects++;
    // Own messages go out as soon as every node is back, not at the next tick.
    if (connected && pending.size > 0) track(recoverLogged().then(() => {}));
  });

  const tick = () => {
    loopTimer = setTimeout(async () => {
      if (bus.isConnected()) await recoverLogged();
      if (loopTimer !== undefined) tick();
    }, deps.intervalMs);
  };

  return {
    publish(record) {
      if (!bus.isConnected()) {
        keep(record, false);
        return;
      }
      // Live delivery here, not after the JetStream round trip and consumer: it
      // needs no stream leader (a cluster election pauses JetStream for seconds)
      // and reaches devices sooner. The event says so, and fan-out skips it.
      source.deliverLive(record);
      // Fan-out with nothing else to do: the server's confirmation of the live
      // event is enough to clear the mark.
      if (deps.fanoutWork?.needed(record) === false) {
        track(
          confirmLive(record).then((confirmed) => {
            if (confirmed) return;
            // Unconfirmed: the live event may be lost (flushLive sees the connection
            // go before the outbox hears of it), so it is delivered again.
            keep(record, false);
            logger.debug("live event not confirmed; the outbox will retry", {
              key: source.keyOf(record),
            });
          }),
        );
        return;
      }
      const connection = disconnects;
      const published = tracing.span(
        `publish ${subject}`,
        () => publishRecord(record, true, tracing.enabled ? tracing.headers() : undefined),
        { kind: "producer", attributes: { "messaging.system": "nats" } },
      );
      track(
        published.then(
          () => {},
          (err: unknown) => {
            // Failed because the connection went (even if another is up by now): the
            // live event written on it may have died with it, so it is delivered again
            // (a client drops a duplicate). Failed on the same connection (no stream
            // leader): it went out.
            keep(record, disconnects === connection && bus.isConnected());
            logger.debug("publish failed; the outbox will retry", {
              key: source.keyOf(record),
              err,
            });
          },
        ),
      );
    },
    recover,
    inFlight: () => publishing,
    stale: () => source.countUnpublished(clock() - deps.staleMs),
    start() {
      if (loopTimer === undefined) tick();
    },
    async stop() {
      stopped = true;
      clearTimeout(loopTimer);
      loopTimer = undefined;
      unfollow();
      await recovering?.catch(() => {});
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      if (markTimer !== undefined) {
        clearTimeout(markTimer);
        await flushMarks();
      }
    },
  };
}
