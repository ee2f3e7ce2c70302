/**
 * The one consumer helper both adapters use: run the handler, decide ack / nak / term,
 * and log poison events. Adapters only apply the verdict, so the two behave alike.
 */
import type { Logger } from "../log/logger.js";
import type { BusEvent, EventHandler } from "./bus.js";
import { PoisonEventError } from "./errors.js";
import { type ConsumerSpec, nakDelayMs } from "./registry.js";

export type Verdict = { kind: "ack" } | { kind: "nak"; delayMs: number } | { kind: "term" };

export async function handleEvent(
  handler: EventHandler,
  event: BusEvent,
  spec: ConsumerSpec,
  logger: Logger,
): Promise<Verdict> {
  try {
    await handler(event);
    return { kind: "ack" };
  } catch (err) {
    const fields = {
      consumer: spec.durable,
      subject: event.subject,
      msgId: event.msgId,
      streamSeq: event.streamSeq,
      deliveryCount: event.deliveryCount,
      err,
    };
    if (err instanceof PoisonEventError) {
      logger.error("bus: poison event terminated by handler", fields);
      return { kind: "term" };
    }
    if (event.deliveryCount >= spec.maxDeliver) {
      logger.error("bus: poison event terminated after max deliveries", fields);
      return { kind: "term" };
    }
    const delayMs = nakDelayMs(spec, event.deliveryCount);
    logger.warn("bus: event handler failed; will redeliver", { ...fields, delayMs });
    return { kind: "nak", delayMs };
  }
}
