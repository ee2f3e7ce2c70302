import { randomUUID } from "node:crypto";
import { createAccounts } from "./accounts/accounts.js";
import { createAccountService } from "./accounts/service.js";
import { createAuthenticator } from "./auth/authenticator.js";
import { type Bus, createMemoryBus, openNatsBus, routeBySubject } from "./bus/index.js";
import { type Clock, systemClock } from "./common/clock.js";
import type { Config } from "./config/config.js";
import { AccountService } from "./gen/im/v1/account_pb.js";
import { EventService } from "./gen/im/v1/events_pb.js";
import { GroupService } from "./gen/im/v1/group_pb.js";
import { MessageService } from "./gen/im/v1/message_pb.js";
import { ProfileService } from "./gen/im/v1/profile_pb.js";
import { RelationService } from "./gen/im/v1/relation_pb.js";
import { createGroupMessaging } from "./group-messaging/group-messaging.js";
import { generateGroupId } from "./groups/group-id.js";
import { createGroups } from "./groups/groups.js";
import { createGroupsOf } from "./groups/groups-of.js";
import { createGroupNotifier } from "./groups/notifier.js";
import { createGroupService } from "./groups/service.js";
import { createLiveHub } from "./live/live-hub.js";
import { createEventService } from "./live/service.js";
import type { Logger } from "./log/logger.js";
import { createFanoutHandler } from "./messaging/fanout.js";
import { createHistory } from "./messaging/history.js";
import { c2cOutboxSource, createOutbox } from "./messaging/outbox.js";
import { createSendMessage } from "./messaging/send-message.js";
import { createMessageService } from "./messaging/service.js";
import { createProfiles } from "./profiles/profiles.js";
import { createProfileService } from "./profiles/service.js";
import { createRelations } from "./relations/relations.js";
import { createRelationSendPolicy } from "./relations/send-policy.js";
import { createRelationService } from "./relations/service.js";
import { startServer } from "./server/server.js";
import { createMemoryStorage, openMongoStorage, type Storage } from "./storage/storage.js";
import { createWebhookClient } from "./webhooks/index.js";

export interface App {
  port: number;
  storage: Storage;
  bus: Bus;
  /** Graceful shutdown: server first, then workers, then the backends they used. */
  close(): Promise<void>;
}

/**
 * The composition root: config -> backends -> components -> server. Read it top
 * to bottom to see what runs. Fails fast if a configured backend is unreachable.
 */
export async function startApp(
  config: Config,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<App> {
  logger.info(describeBackends(config), {
    storage: config.mongo ? "mongodb" : "memory",
    bus: config.nats ? "nats" : "in-process",
  });
  if (config.devSecretKey) {
    logger.warn(
      "APP_SECRET_KEY is not set: using the built-in development key; never expose this server",
    );
  }
  // Undo what started if a later step fails, and stop in reverse order on close.
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
  };

  try {
    const { messaging } = config;
    const storage = config.mongo
      ? await openMongoStorage(config.mongo.url, config.mongo.database, {
          messageRetentionMs: messaging.retentionMs,
        })
      : createMemoryStorage();
    stops.push(() => storage.close());
    const bus = config.nats
      ? await openNatsBus({ url: config.nats.url, namespace: config.nats.namespace, logger })
      : createMemoryBus({ clock, logger });
    stops.push(() => bus.close());
    const webhooks = createWebhookClient({ config: config.webhook, logger, clock });
    stops.push(() => webhooks.close());

    const accounts = createAccounts({
      store: storage.accounts,
      clock,
      batchMax: config.accountBatchMax,
    });
    const authenticate = createAuthenticator({
      appId: config.appId,
      secretKey: config.secretKey,
      adminUserIds: config.adminUserIds,
      maxSkewSec: config.userSigMaxSkewSec,
      accounts: storage.accounts,
      clock,
    });

    const live = createLiveHub({
      bus,
      clock,
      logger,
      keepAliveMs: messaging.keepAliveMs,
      maxQueuedEvents: messaging.streamQueueMax,
      groupsOf: createGroupsOf({ members: storage.groupMembers }),
    });
    const profiles = createProfiles({
      store: storage.profiles,
      accounts: storage.accounts,
      customFields: config.profiles.customFields,
      batchMax: config.profiles.batchMax,
      clock,
      events: live,
      profileWatchers: (userId) => storage.relations.selectFriendOwners(userId),
    });
    const relations = createRelations({
      store: storage.relations,
      accounts: storage.accounts,
      friendRequestSettings: profiles.friendRequestSettings,
      limits: config.relations,
      customFields: config.relations.customFields,
      clock,
      events: live,
      newListId: randomUUID,
    });
    const outbox = createOutbox({
      // Group sends keep their claims in the same store, for their longer window.
      source: c2cOutboxSource(
        storage.messages,
        bus,
        clock,
        Math.max(messaging.dedupWindowMs, config.groups.duplicateWindowMs),
      ),
      bus,
      clock,
      logger,
      intervalMs: messaging.outboxIntervalMs,
      staleMs: messaging.outboxStaleMs,
    });
    const sendMessage = createSendMessage({
      store: storage.messages,
      accounts: storage.accounts,
      live,
      outbox,
      webhooks,
      policy: createRelationSendPolicy({ store: storage.relations, ...config.c2cPolicy }),
      clock,
      logger,
      maxMessageBytes: messaging.maxMessageBytes,
      dedupWindowMs: messaging.dedupWindowMs,
      claimLeaseMs: messaging.claimLeaseMs,
    });
    const history = createHistory({
      store: storage.messages,
      live,
      clock,
      retentionMs: messaging.retentionMs,
      recentContactsMax: messaging.recentContactsMax,
    });

    const groupMessaging = createGroupMessaging({
      groups: storage.groups,
      members: storage.groupMembers,
      accounts: storage.accounts,
      messages: storage.groupMessages,
      claims: storage.messages,
      claimLeaseMs: messaging.claimLeaseMs,
      bus,
      live,
      webhooks,
      config: config.groups,
      clock,
      logger,
      maxMessageBytes: messaging.maxMessageBytes,
      retentionMs: messaging.retentionMs,
      outboxIntervalMs: messaging.outboxIntervalMs,
      outboxStaleMs: messaging.outboxStaleMs,
    });
    const groupNotifier = createGroupNotifier({
      live,
      config: config.groups,
      clock,
      logger,
      storeTip: groupMessaging.storeTip,
    });
    stops.push(() => groupNotifier.drain());
    const groups = createGroups({
      groups: storage.groups,
      members: storage.groupMembers,
      applications: storage.groupApplications,
      accounts: storage.accounts,
      notifier: groupNotifier,
      webhooks,
      config: config.groups,
      clock,
      logger,
      newGroupId: generateGroupId,
      deleteHistory: groupMessaging.deleteHistory,
      unreadOf: groupMessaging.unreadOf,
    });

    // One consumer reads the messages stream; each subject has its handler.
    const fanout = await bus.consume(
      "fanout",
      routeBySubject({
        [bus.registry.subjects.c2cMessage]: createFanoutHandler({
          store: storage.messages,
          live,
          webhooks,
          logger,
        }),
        [bus.registry.subjects.groupMessage]: groupMessaging.fanoutHandler,
      }),
    );
    stops.push(() => fanout.stop());
    outbox.start();
    stops.push(() => outbox.stop());
    groupMessaging.outbox.start();
    stops.push(() => groupMessaging.outbox.stop());

    const streamsShutdown = new AbortController();
    const server = await startServer({
      routes(router) {
        router.service(AccountService, createAccountService(accounts));
        router.service(MessageService, createMessageService(sendMessage, history));
        router.service(EventService, createEventService(live, streamsShutdown.signal));
        router.service(GroupService, createGroupService(groups, groupMessaging.handlers));
        router.service(ProfileService, createProfileService(profiles));
        router.service(RelationService, createRelationService(relations));
      },
      authenticate,
      logger,
      host: config.host,
      port: config.port,
      tls: config.tls,
      shutdownGraceMs: config.shutdownGraceMs,
      limits: config.transport,
      dependencies: [
        {
          name: "storage",
          isUp: storage.isReachable,
          onChange: storage.onReachabilityChange,
        },
        {
          name: "bus",
          isUp: () => bus.isConnected(),
          onChange: (listener) => bus.onConnectionChange(() => listener()),
        },
      ],
      streamsShutdown,
    });
    stops.push(() => server.shutdown());
    logger.info("listening", {
      host: config.host,
      port: server.port,
      tls: config.tls !== undefined,
    });

    let closing: Promise<void> | undefined;
    return {
      port: server.port,
      storage,
      bus,
      close: () => {
        closing ??= stopAll();
        return closing;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function describeBackends(config: Config): string {
  if (config.mongo && config.nats) return "starting on MongoDB and NATS JetStream (durable)";
  if (!config.mongo && !config.nats) {
    return "starting on the embedded default: in-memory store and in-process bus (NOT durable: all data is lost on exit; set MONGO_URL and NATS_URL for production)";
  }
  return config.mongo
    ? "starting on MongoDB with the in-process bus (single node only: set NATS_URL to run several)"
    : "starting on the in-memory store (NOT durable) with NATS JetStream";
}
