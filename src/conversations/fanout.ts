import { type EventHandler, PoisonEventError } from "../bus/index.js";
import type { Logger } from "../log/logger.js";
import type { WebhookClient } from "../webhooks/index.js";
import type { ConversationKind, FanoutEvent } from "./kind.js";
import type { SequencedMessage, StoredMessage } from "./store.js";

export interface FanoutDeps {
  webhooks: Pick<WebhookClient, "afterSend">;
  logger: Logger;
}

/**
 * Handles one stored message of a kind from the bus's shared work consumer, on
 * whichever process gets it: live delivery to the recipients on every node,
 * the kind's own fan-out work (conversation lists), then the after-send
 * webhook. Delivery is at-least-once, so every step is idempotent (conversation
 * updates ignore stale seqs; clients drop events whose (conversation, seq) they have).
 */
export function createFanoutHandler<
  Req,
  M extends SequencedMessage,
  R extends StoredMessage<M>,
  Res,
>(kind: ConversationKind<Req, M, R, Res>, deps: FanoutDeps): EventHandler {
  return async (event) => {
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
    // Live first and synchronously: handlers start in stream order, so streams
    // see a conversation's messages in seq order whenever one process consumes.
    kind.deliverLive(message, decoded.skipSyncToSender);
    await kind.onFanout?.(message, decoded);
    deps.logger.debug("message fanned out", { kind: kind.name, key: message.messageKey });
    if (!decoded.skipAfterSendWebhook) deps.webhooks.afterSend(kind.afterSendEvent(message));
  };
}
