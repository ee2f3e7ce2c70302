/**
 * One process's share of a durable pull consumer. nats.js re-pulls by itself after a
 * reconnect; the outer loop here restarts consumption if the library gives up (e.g.
 * the consumer vanished and came back), so a handle keeps working until `stop()`.
 *
 * On a cluster the consumer's leader can change (its server died or stepped down). A
 * pull request waiting at the old leader is gone with it and nats.js only notices after
 * two missed idle heartbeats; the new leader's LEADER_ELECTED advisory makes us pull
 * again at once instead. A consumer deleted under us is recreated from the registry.
 */
import {
  type ConsumerMessages,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JsMsg,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../log/logger.js";
import type { BusEvent, ConsumerHandle, EventHandler } from "./bus.js";
import { handleEvent } from "./handle-event.js";
import { createInFlight } from "./in-flight.js";
import type { ConsumerSpec } from "./registry.js";
import { renewWhileRunning } from "./renewal.js";

export interface NatsConsumerDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  stream: string;
  spec: ConsumerSpec;
  handler: EventHandler;
  concurrency: number;
  /** See `ConsumeOptions.renewal`. */
  renewal: { maxMs: number } | undefined;
  logger: Logger;
  /** Issues a write (an ack) with the next writes of this or a later turn (bounded). */
  defer(write: () => void): void;
  /** Recreates the registry's streams and consumers (after ours was deleted). */
  recover(): Promise<void>;
}

const RESTART_DELAYS_MS = [250, 500, 1_000, 2_000, 5_000];
// A pull expires after this and its idle heartbeat is half of it: a pull lost without
// an advisory reaching us (e.g. we were connected to the dying leader's server) is
// noticed after two missed heartbeats, i.e. within this. nats.js's default is 30 s.
const PULL_EXPIRES_MS = 10_000;

export interface NatsConsumerHandle extends ConsumerHandle {
  /**
   * Starts consuming afresh. For after the consumer was recreated on the server: nats.js
   * would otherwise wait out its own backoff (up to 30 s) before finding it again.
   */
  restart(): void;
}

export function startNatsConsumer(deps: NatsConsumerDeps): NatsConsumerHandle {
  const { nc, js, stream, spec, handler, concurrency } = deps;
  const logger = deps.logger.child({ consumer: spec.durable });
  const inFlight = createInFlight();
  let stopped = false;
  let signalStop: () => void = () => {};
  // Resolves on stop(), so no wait below outlives it (a hung handler holds a slot forever).
  const stopSignal = new Promise<void>((resolve) => {
    signalStop = resolve;
  });
  let messages: ConsumerMessages | undefined;

  // The server stops redelivering at max_deliver without telling the client when the
  // last delivery timed out (handler hung or process died); its advisory is the only trace.
  const advisory = nc.subscribe(
    `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${spec.durable}`,
    {
      callback: (_err, msg) => {
        logger.error("bus: poison event given up by the server after max deliveries", {
          advisory: msg?.string(),
        });
      },
    },
  );

  // A new leader has no record of the pulls the old one was holding: pull afresh.
  const leaderElected = nc.subscribe(
    `$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.${stream}.${spec.durable}`,
    {
      callback: () => {
        if (stopped) return;
        logger.info("bus: consumer has a new leader; pulling again");
        void messages?.close().catch(() => undefined);
      },
    },
  );

  let recovering: Promise<void> | undefined;
  const recover = (why: string): Promise<void> => {
    recovering ??= (async () => {
      logger.warn("bus: consumer missing on the server; recreating it", { why });
      try {
        await deps.recover();
      } catch (err) {
        logger.error("bus: recreating the consumer failed", { err });
      } finally {
        recovering = undefined;
      }
    })();
    return recovering;
  };

  const watchStatus = async (current: ConsumerMessages): Promise<void> => {
    for await (const s of current.status()) {
      if (stopped) return;
      if (s.type === "consumer_deleted" || s.type === "consumer_not_found") {
        await recover(s.type);
        void current.close().catch(() => undefined);
      } else if (s.type === "heartbeats_missed") {
        logger.warn("bus: consumer heartbeats missed; pulling again", { count: s.count });
      }
    }
  };

  const settle = async (m: JsMsg): Promise<void> => {
    const event: BusEvent = {
      subject: m.subject,
      data: m.data,
      msgId: m.headers?.get("Nats-Msg-Id") || undefined,
      streamSeq: m.seq,
      deliveryCount: m.info.deliveryCount,
      header: (name) => m.headers?.get(name) || undefined,
    };
    const handled = handleEvent(handler, event, spec, logger);
    const verdict = await (deps.renewal === undefined
      ? handled
      : renewWhileRunning(handled, () => deps.defer(() => m.working()), {
          ackWaitMs: spec.ackWaitMs,
          maxMs: deps.renewal.maxMs,
          event,
          durable: spec.durable,
          logger,
        }));
    // Acks are fire-and-forget: if one is lost the event is redelivered after ack wait,
    // which at-least-once handlers absorb.
    if (verdict.kind === "ack") deps.defer(() => m.ack());
    else if (verdict.kind === "nak") deps.defer(() => m.nak(verdict.delayMs));
    else deps.defer(() => m.term());
  };

  const runOnce = async (): Promise<void> => {
    const consumer = await js.consumers.get(stream, spec.durable).catch(async (err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) {
        await recover("consumer not found at start");
      }
      throw err;
    });
    // Pull no more than we can run, so buffered events do not age towards ack wait.
    const current = await consumer.consume({
      max_messages: concurrency,
      expires: PULL_EXPIRES_MS,
    });
    messages = current;
    // Stopped while starting: close it and let the loop below drain it (nats.js resolves
    // close() only once the iterator is read to its end, so awaiting it here would hang).
    if (stopped) void current.close().catch(() => undefined);
    else void watchStatus(current).catch(() => undefined);
    for await (const m of current) {
      await Promise.race([inFlight.whenBelow(concurrency), stopSignal]);
      if (stopped) {
        // Hand it straight back so another process takes it now, not after ack wait.
        m.nak();
        continue;
      }
      inFlight.track(
        settle(m).catch((err: unknown) => logger.error("bus: settling event failed", { err })),
      );
    }
  };

  const loop = async (): Promise<void> => {
    let attempt = 0;
    while (!stopped) {
      const started = Date.now();
      try {
        await runOnce();
        if (!stopped) logger.warn("bus: consumer iterator ended; restarting");
      } catch (err) {
        if (stopped) break;
        logger.warn("bus: consumer failed; restarting", { err, attempt });
      }
      if (stopped) break;
      // A run that lasted a while was healthy: start the backoff over.
      if (Date.now() - started > 10_000) attempt = 0;
      const delay = RESTART_DELAYS_MS[Math.min(attempt++, RESTART_DELAYS_MS.length - 1)] ?? 5_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise((resolve) => (timer = setTimeout(resolve, delay))),
        stopSignal,
      ]);
      clearTimeout(timer);
    }
  };
  const looping = loop();

  let stopping: Promise<void> | undefined;
  return {
    restart() {
      if (stopped) return;
      logger.info("bus: restarting consumer");
      void messages?.close().catch(() => undefined);
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        signalStop();
        advisory.unsubscribe();
        leaderElected.unsubscribe();
        await messages?.close().catch(() => undefined);
        await looping;
        if (!(await inFlight.drain(spec.ackWaitMs))) {
          logger.warn("bus: consumer stopped with handlers still running", {
            inFlight: inFlight.size,
          });
        }
      })();
      return stopping;
    },
  };
}
