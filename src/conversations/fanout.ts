import { type EventHandler, PoisonEventError } from "../bus/index.js";
import { type Clock, systemClock } from "../common/clock.js";
import type { PushJob } from "../gen/im/internal/v1/push_pb.js";
import type { Logger } from "../log/logger.js";
import { type MessageMeter, noMeters } from "../metrics/meters.js";
import { noTracing, type Tracing } from "../tracing/tracing.js";
import type { WebhookClient } from "../webhooks/index.js";
import type { ConversationKind, FanoutEvent } from "./kind.js";
import type { FanoutWork } from "./outbox.js";
import type { SequencedMessage, StoredMessage } from "./store.js";

export interface FanoutDeps {
  webhooks: Pick<WebhookClient, "afterSend" | "afterRecall" | "isEnabled">;
  logger: Logger;
  /** Fan-out count and lag; off by default. */
  meter?: Pick<MessageMeter, "messageFannedOut">;
  /** A consumer span continuing the sender's trace from the event's headers; off by default. */
  tracing?: Tracing;
  clock?: Clock;
  /**
   * Hands a stored message's push work to the push component's durable work
   * consumer (resolves once the bus holds it); unset: no offline push.
   */
  enqueuePush?: (job: PushJob) => Promise<void>;
}

/**
 * Live delivery of a stored record on every node: a message, a recall's
 * tombstone or an edit's latest version, each to its own event.
 */
export function deliverLiveOf<M extends SequencedMessage>(
  kind: Pick<
    ConversationKind<unknown, M, StoredMessage<M>, unknown>,
    "deliverLive" | "deliverRecalled" | "deliverEdited"
  >,
  message: M,
  skipSyncToSender: boolean,
): void {
  if (message.recall !== undefined) kind.deliverRecalled(message);
  else if (message.edit !== undefined) kind.deliverEdited(message);
  else kind.deliverLive(message, skipSyncToSender);
}

/**
 * What fan-out of a kind's record would do beyond live delivery, decided from
 * what is configured, as `createFanoutHandler` does it: a message's push job
 * (push enabled and the kind pushes) and after-send webhook; a recall's
 * after-recall webhook (not for a delete for everyone); an edit: nothing. With
 * none, the outbox skips the bus round trip (see `Outbox.publish`). Group
 * messages are the same: their members' live delivery is the kind's
 * `deliverLive`, done by the storing node; fan-out adds nothing per member.
 */
export function fanoutWorkOf<M extends SequencedMessage, R extends StoredMessage<M>>(
  kind: Pick<ConversationKind<unknown, M, R, unknown>, "name" | "webhookEvents" | "pushJob">,
  deps: Pick<FanoutDeps, "webhooks" | "meter" | "clock" | "enqueuePush">,
): FanoutWork<R> {
  const { webhooks } = deps;
  const meter = deps.meter ?? noMeters;
  const clock = deps.clock ?? systemClock;
  // A push job per message when pushing at all: deciding whether this one pushes
  // would cost what building its job costs, so any message counts as work.
  const pushes = deps.enqueuePush !== undefined && kind.pushJob !== undefined;
  return {
    needed({ message, skipAfterSendWebhook }) {
      if (message.recall !== undefined) {
        return (
          !message.recall.deletedForEveryone && webhooks.isEnabled(kind.webhookEvents.afterRecall)
        );
      }
      if (message.edit !== undefined) return false;
      return pushes || (!skipAfterSendWebhook && webhooks.isEnabled(kind.webhookEvents.afterSend));
    },
    doneLive({ message }) {
      if (message.recall !== undefined || message.edit !== undefined) return;
      meter.messageFannedOut(kind.name, (clock() - Number(message.timeMs)) / 1000);
    },
  };
}

/**
 * Handles one stored message of a kind from the bus's shared work consumer, on
 * whichever process gets it: live delivery to the recipients on every node
 * (unless the storing node did it, see `Outbox.publish`), the offline push work
 * (a job for the push consumer), then the after-send webhook. A recalled
 * message's tombstone takes the same path to its `recalled` event and the
 * after-recall webhook. Delivery is at-least-once, so every step is idempotent
 * (clients drop events whose (conversation, seq) they have).
 */
export function createFanoutHandler<
  Req,
  M extends SequencedMessage,
  R extends StoredMessage<M>,
  Res,
>(kind: ConversationKind<Req, M, R, Res>, deps: FanoutDeps): EventHandler {
  const meter = deps.meter ?? noMeters;
  const tracing = deps.tracing ?? noTracing;
  const clock = deps.clock ?? systemClock;
  const handle: EventHandler = async (event) => {
    let decoded: FanoutEvent<M>;
    try {
      decoded = kind.decodeEvent(event.data);
    } catch (err) {
      throw new PoisonEventError(`undecodable ${kind.name} fan-out event`, { cause: err });
    }
    const message = decoded.message;
    if (message === undefined) {
      throw new PoisonEventError(`${kind.name} fan-out event without a message`);
    }
    if (!decoded.liveSent) deliverLiveOf(kind, message, decoded.skipSyncToSender);
    if (message.recall !== undefined) {
      // A tombstone: the recall's fan-out (the same at-least-once path as
      // messages; every step is idempotent).
      deps.logger.debug("recall fanned out", { kind: kind.name, key: message.messageKey });
      // A delete for everyone is an admin's own act: no after-recall webhook.
      if (!message.recall.deletedForEveryone) {
        deps.webhooks.afterRecall(kind.afterRecallEvent(message));
      }
      return;
    }
    if (message.edit !== undefined) {
      // An edited message's latest version, on the same path (no after-send
      // webhook: the before-edit webhook saw it).
      deps.logger.debug("edit fanned out", { kind: kind.name, key: message.messageKey });
      return;
    }
    const job = deps.enqueuePush && kind.pushJob?.(message);
    if (job !== undefined) await deps.enqueuePush?.(job);
    deps.logger.debug("message fanned out", { kind: kind.name, key: message.messageKey });
    if (!decoded.skipAfterSendWebhook) deps.webhooks.afterSend(kind.afterSendEvent(message));
    meter.messageFannedOut(kind.name, (clock() - Number(message.timeMs)) / 1000);
  };
  return (event) =>
    tracing.span(`fanout ${kind.name}`, () => handle(event), {
      kind: "consumer",
      attributes: { "messaging.system": "nats", "im.delivery_count": event.deliveryCount },
      ...(event.header === undefined ? {} : { remoteParent: event.header }),
    });
}
