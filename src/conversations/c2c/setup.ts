import type { AccountStore } from "../../accounts/store.js";
import type { Bus } from "../../bus/index.js";
import type { Clock } from "../../common/clock.js";
import { type Component, nothingToStop } from "../../common/component.js";
import type { MessagingSettings } from "../../config/config.js";
import { MessageService } from "../../gen/im/v1/message_pb.js";
import type { LiveHub } from "../../live/live-hub.js";
import type { Logger } from "../../log/logger.js";
import type { WebhookClient } from "../../webhooks/index.js";
import { createSendClaims, type SendClaims } from "../claims.js";
import { c2cOutboxSource, createOutbox } from "../outbox.js";
import { createFanoutHandler } from "./fanout.js";
import { createHistory } from "./history.js";
import { createSendMessage } from "./send-message.js";
import type { C2CSendPolicy } from "./send-policy.js";
import { createMessageService } from "./service.js";
import type { MessageStore } from "./store.js";

export interface MessagingSetupDeps {
  store: MessageStore;
  accounts: Pick<AccountStore, "selectExistingUserIds">;
  bus: Pick<Bus, "publish" | "isConnected" | "registry">;
  live: LiveHub;
  webhooks: WebhookClient;
  /** Who may message whom (the relationship chain's policy). */
  policy: C2CSendPolicy;
  settings: MessagingSettings;
  clock: Clock;
  logger: Logger;
}

export interface MessagingComponent extends Component {
  /** The send claims, shared with the other send paths (they register their windows). */
  claims: SendClaims;
}

/** One-to-one messaging: MessageService, its outbox and its fan-out handler. */
export function setupMessaging(deps: MessagingSetupDeps): MessagingComponent {
  const { store, bus, clock, logger, settings } = deps;
  const claims = createSendClaims({ store, clock });
  claims.keepFor(settings.dedupWindowMs);
  const outbox = createOutbox({
    source: c2cOutboxSource(store, bus, claims),
    bus,
    clock,
    logger,
    intervalMs: settings.outboxIntervalMs,
    staleMs: settings.outboxStaleMs,
  });
  const sendMessage = createSendMessage({
    store,
    accounts: deps.accounts,
    live: deps.live,
    outbox,
    webhooks: deps.webhooks,
    policy: deps.policy,
    clock,
    logger,
    maxMessageBytes: settings.maxMessageBytes,
    dedupWindowMs: settings.dedupWindowMs,
    claimLeaseMs: settings.claimLeaseMs,
  });
  const history = createHistory({
    store,
    live: deps.live,
    clock,
    retentionMs: settings.retentionMs,
    recentContactsMax: settings.recentContactsMax,
  });
  return {
    claims,
    services: [
      (router) => router.service(MessageService, createMessageService(sendMessage, history)),
    ],
    busHandlers: {
      [bus.registry.subjects.c2cMessage]: createFanoutHandler({
        store,
        live: deps.live,
        webhooks: deps.webhooks,
        logger,
      }),
    },
    workers: [{ name: "c2c-outbox", start: outbox.start, stop: outbox.stop }],
    stop: nothingToStop,
  };
}
