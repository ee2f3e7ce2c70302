import { type BusEvent, PoisonEventError } from "../../bus/index.js";
import type { LiveHub } from "../../live/live-hub.js";
import type { Logger } from "../../log/logger.js";
import type { WebhookClient } from "../../webhooks/index.js";
import { groupAfterSendEvent } from "./after-send-event.js";
import { deliverGroupMessage } from "./delivery.js";
import { decodeGroupFanoutEvent } from "./fanout-event.js";

export interface GroupFanoutDeps {
  live: Pick<LiveHub, "publishToGroup">;
  webhooks: Pick<WebhookClient, "afterSend">;
  logger: Logger;
}

/**
 * Handles one group message from the bus's shared work consumer, on whichever
 * process gets it: live delivery to the online members, then the after-send
 * webhook. At-least-once: a redelivery repeats the live events and
 * clients drop the (group, seq) they have.
 */
export function createGroupFanoutHandler(deps: GroupFanoutDeps) {
  return async (event: BusEvent): Promise<void> => {
    let decoded: ReturnType<typeof decodeGroupFanoutEvent>;
    try {
      decoded = decodeGroupFanoutEvent(event.data);
    } catch (err) {
      throw new PoisonEventError("undecodable group fan-out event", { cause: err });
    }
    const message = decoded.message;
    if (message === undefined) throw new PoisonEventError("group fan-out event without a message");
    deliverGroupMessage(
      deps.live,
      message,
      decoded.skipSyncToSender ? message.fromUserId : undefined,
    );
    deps.logger.debug("group message fanned out", { key: message.messageKey });
    if (!decoded.skipAfterSendWebhook) deps.webhooks.afterSend(groupAfterSendEvent(message));
  };
}
