import { type BusEvent, PoisonEventError } from "../../bus/index.js";
import type { LiveHub } from "../../live/live-hub.js";
import type { Logger } from "../../log/logger.js";
import type { WebhookClient } from "../../webhooks/index.js";
import { decodeFanoutEvent } from "./fanout-event.js";
import { afterSendEvent, deliverLive } from "./send-message.js";
import type { MessageStore } from "./store.js";

export interface FanoutDeps {
  store: Pick<MessageStore, "upsertConversation">;
  live: LiveHub;
  webhooks: Pick<WebhookClient, "afterSend">;
  logger: Logger;
}

/**
 * Handles one stored message from the bus's shared work consumer, on whichever
 * process gets it: live delivery to every device of both users on any node,
 * both sides' conversation lists, then the after-send webhook. Delivery is
 * at-least-once, so every step is idempotent (conversation updates ignore
 * stale seqs; clients drop events whose (conversation, seq) they have).
 */
export function createFanoutHandler(deps: FanoutDeps) {
  return async (event: BusEvent): Promise<void> => {
    let decoded: ReturnType<typeof decodeFanoutEvent>;
    try {
      decoded = decodeFanoutEvent(event.data);
    } catch (err) {
      throw new PoisonEventError("undecodable fan-out event", { cause: err });
    }
    const message = decoded.message;
    if (message === undefined) throw new PoisonEventError("fan-out event without a message");
    const seq = Number(message.seq);
    const timeMs = Number(message.timeMs);
    const lastMessage = decoded.noLastMessage ? undefined : message;
    // Live first and synchronously: handlers start in stream order, so streams
    // see a conversation's messages in seq order whenever one process consumes.
    deliverLive(deps, message, decoded.skipSyncToSender);
    await Promise.all([
      deps.store.upsertConversation({
        ownerUserId: message.toUserId,
        conversationId: message.conversationId,
        peerUserId: message.fromUserId,
        seq,
        lastMessage,
        timeMs,
      }),
      deps.store.upsertConversation({
        ownerUserId: message.fromUserId,
        conversationId: message.conversationId,
        peerUserId: message.toUserId,
        seq,
        lastMessage,
        timeMs,
      }),
    ]);
    if (!decoded.skipAfterSendWebhook) deps.webhooks.afterSend(afterSendEvent(message));
  };
}
