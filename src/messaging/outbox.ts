import type { Bus } from "../bus/bus.js";
import type { Clock } from "../common/clock.js";
import type { Logger } from "../log/logger.js";
import { encodeFanoutEvent } from "./fanout-event.js";
import type { MessageRecord, MessageStore } from "./store.js";

export interface OutboxDeps {
  store: MessageStore;
  bus: Pick<Bus, "publish" | "isConnected" | "registry">;
  clock: Clock;
  logger: Logger;
  /** How often recovery looks for unpublished messages. */
  intervalMs: number;
  /** Only messages unpublished for this long are republished (fresh ones are still in flight). */
  staleMs: number;
  /** Dedup claims older than this are deleted by the same loop. */
  dedupWindowMs: number;
}

/**
 * The transactional outbox. A message is stored with an "unpublished" mark
 * before the sender is acked; this publishes it to the bus (message key as
 * dedup id) and clears the mark. Whatever a crash or a bus outage left marked,
 * the recovery loop of any process publishes later, so every acked message is
 * fanned out at least once.
 */
export interface Outbox {
  /** Publishes a just-stored message in the background; never throws. */
  publish(record: MessageRecord): void;
  /** One recovery pass; returns how many messages it published. */
  recover(): Promise<number>;
  start(): void;
  /** Stops the loop and waits for background publishes and marks to settle. */
  stop(): Promise<void>;
}

const RECOVERY_BATCH = 500;
const MARK_FLUSH_MS = 20;
const DEDUP_SWEEP_EVERY_MS = 60_000;

export function createOutbox(deps: OutboxDeps): Outbox {
  const { store, bus, clock, logger } = deps;
  const subject = bus.registry.subjects.c2cMessage;
  const inFlight = new Set<Promise<void>>();
  let toMark: string[] = [];
  let markTimer: NodeJS.Timeout | undefined;
  let loopTimer: NodeJS.Timeout | undefined;
  let recovering: Promise<number> | undefined;
  let lastDedupSweep = 0;

  // Clearing marks one by one would add a write per message; batch them.
  const flushMarks = async () => {
    markTimer = undefined;
    const keys = toMark;
    toMark = [];
    if (keys.length === 0) return;
    try {
      await store.markPublished(keys);
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
  const publishRecord = async (record: MessageRecord) => {
    await bus.publish(subject, encodeFanoutEvent(record), { msgId: record.message.messageKey });
    markPublished(record.message.messageKey);
  };

  const recoverOnce = async (): Promise<number> => {
    let published = 0;
    for (;;) {
      const batch = await store.selectUnpublished(clock() - deps.staleMs, RECOVERY_BATCH);
      for (const record of batch) {
        await publishRecord(record);
        published++;
      }
      if (batch.length < RECOVERY_BATCH) break;
    }
    if (published > 0) logger.info("outbox republished messages", { published });
    if (clock() - lastDedupSweep >= DEDUP_SWEEP_EVERY_MS) {
      lastDedupSweep = clock();
      await store.deleteDedupKeysBefore(clock() - deps.dedupWindowMs);
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
      track(
        publishRecord(record).catch((err: unknown) => {
          logger.debug("publish failed; the outbox will retry", {
            key: record.message.messageKey,
            err,
          });
        }),
      );
    },
    recover,
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
