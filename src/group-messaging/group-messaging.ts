import type { AccountStore } from "../accounts/store.js";
import type { Bus } from "../bus/index.js";
import type { Clock } from "../common/clock.js";
import type { GroupConfig } from "../groups/config.js";
import type { GroupMemberStore, GroupStore } from "../groups/store.js";
import type { LiveHub } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";
import { createOutbox, type OutboxSource } from "../messaging/outbox.js";
import type { MessageStore } from "../messaging/store.js";
import type { MessageLimits } from "../messaging/validate-body.js";
import type { WebhookClient } from "../webhooks/index.js";
import { createGroupFanoutHandler } from "./fanout.js";
import { encodeGroupFanoutEvent } from "./fanout-event.js";
import { createGroupHistory } from "./history.js";
import { createGroupRateLimiter } from "./rate-limiter.js";
import { createSendGroupMessage } from "./send-group-message.js";
import { createSendGroupSystemMessage } from "./send-system-message.js";
import { createGroupMessagingHandlers } from "./service.js";
import type { GroupMessageRecord, GroupMessageStore } from "./store.js";
import { createTipStorer } from "./tip-storer.js";

export interface GroupMessagingDeps {
  groups: GroupStore;
  members: GroupMemberStore;
  accounts: Pick<AccountStore, "selectExistingUserIds">;
  messages: GroupMessageStore;
  claims: Pick<MessageStore, "claimDedupKey" | "releaseDedupKey">;
  claimLeaseMs: number;
  bus: Pick<Bus, "publish" | "isConnected" | "registry">;
  live: LiveHub;
  webhooks: WebhookClient;
  config: GroupConfig;
  clock: Clock;
  logger: Logger;
  messageLimits: MessageLimits;
  retentionMs: number;
  outboxIntervalMs: number;
  outboxStaleMs: number;
}

/** Group messages: wires the send paths, the outbox, fan-out, history and the tip hook. */
export function createGroupMessaging(deps: GroupMessagingDeps) {
  const { bus, clock, logger } = deps;
  const source: OutboxSource<GroupMessageRecord> = {
    name: "group",
    subject: bus.registry.subjects.groupMessage,
    encode: encodeGroupFanoutEvent,
    keyOf: (r) => r.message.messageKey,
    selectUnpublished: (beforeMs, limit) =>
      deps.messages.selectUnpublishedGroupMessages(beforeMs, limit),
    markPublished: (keys) => deps.messages.markGroupMessagesPublished(keys),
  };
  const outbox = createOutbox({
    source,
    bus,
    clock,
    logger,
    intervalMs: deps.outboxIntervalMs,
    staleMs: deps.outboxStaleMs,
  });
  const limiter = createGroupRateLimiter({ limit: deps.config.messagesPerSecond, clock });
  const send = createSendGroupMessage({ ...deps, outbox, limiter });
  const sendSystem = createSendGroupSystemMessage(deps);
  const history = createGroupHistory(deps);
  return {
    outbox,
    handlers: createGroupMessagingHandlers(send, sendSystem, history),
    fanoutHandler: createGroupFanoutHandler({
      live: deps.live,
      webhooks: deps.webhooks,
      logger,
    }),
    storeTip: createTipStorer(deps),
    deleteHistory: (groupId: string) => deps.messages.deleteGroupMessages(groupId),
    unreadOf: history.unreadOf,
  };
}

export type GroupMessaging = ReturnType<typeof createGroupMessaging>;
