import type { GroupConfig } from "../../groups/config.js";
import type { TipStorer } from "../../groups/notifier.js";
import type { Logger } from "../../log/logger.js";
import type { ConversationPipeline } from "../pipeline.js";
import type { GroupMessageRecord } from "./store.js";

/**
 * The notifier's hook for tips whose policy is "store": the tip becomes a
 * group message with the next seq, so it is in history and sync. A Work group
 * not yet active keeps its tips unstored: taking a seq would activate it, and
 * only a message may do that. A failure leaves the tip delivered unstored.
 */
export function createTipStorer(deps: {
  /** Sequencing and storage, the group pipeline's (seq, time, insert). */
  pipeline: Pick<ConversationPipeline<unknown, GroupMessageRecord, unknown>, "insert">;
  config: GroupConfig;
  logger: Logger;
}): TipStorer {
  return async (group, message) => {
    const traits = deps.config.traits[group.type];
    if (!traits.storesHistory || (traits.needsActivation && !group.active)) return undefined;
    try {
      await deps.pipeline.insert({
        message,
        dedupKey: undefined,
        // The notifier delivers tips itself; nothing for the outbox.
        unpublished: false,
        skipAfterSendWebhook: true,
        skipSyncToSender: false,
      });
      return message;
    } catch (err) {
      deps.logger.warn("could not store a group tip; delivered unstored", {
        groupId: group.groupId,
        err,
      });
      return undefined;
    }
  };
}
