import type { Logger } from "../log/logger.js";
import type { BusEvent } from "./bus.js";

/**
 * Keeps `work` (a running handler) from being redelivered: calls `renew` every
 * third of `ackWaitMs` until it settles or `maxMs` has passed since delivery;
 * then it is taken for hung (logged) and left to ack wait. Both adapters use it,
 * so renewal behaves alike on each.
 */
export function renewWhileRunning<T>(
  work: Promise<T>,
  renew: () => void,
  options: { ackWaitMs: number; maxMs: number; event: BusEvent; durable: string; logger: Logger },
): Promise<T> {
  const every = Math.max(1, Math.floor(options.ackWaitMs / 3));
  const ticker = setInterval(renew, every);
  ticker.unref();
  const guard = setTimeout(() => {
    clearInterval(ticker);
    options.logger.warn("bus: handler still running past its renewal bound; letting it go", {
      consumer: options.durable,
      subject: options.event.subject,
      msgId: options.event.msgId,
      streamSeq: options.event.streamSeq,
      deliveryCount: options.event.deliveryCount,
      maxMs: options.maxMs,
    });
  }, options.maxMs);
  guard.unref();
  return work.finally(() => {
    clearInterval(ticker);
    clearTimeout(guard);
  });
}
