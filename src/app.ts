import { setupAccounts } from "./accounts/setup.js";
import { createAuthenticator } from "./auth/authenticator.js";
import { type Bus, createMemoryBus, openNatsBus, routeBySubject } from "./bus/index.js";
import { setupLookupCaches } from "./caches/setup.js";
import { type Clock, systemClock } from "./common/clock.js";
import { type Component, mergeBusHandlers } from "./common/component.js";
import type { Config } from "./config/config.js";
import { withReadListeners } from "./conversations/read-observer.js";
import { setupConversations } from "./conversations/setup.js";
import { generateGroupId } from "./groups/group-id.js";
import { createGroupsOf } from "./groups/groups-of.js";
import { setupGroups } from "./groups/setup.js";
import { setupLive } from "./live/setup.js";
import type { Logger } from "./log/logger.js";
import { startYoungGenerationRelease } from "./memory/start.js";
import { setupMetrics } from "./metrics/setup.js";
import { openKeywordFilter } from "./moderation/keyword-filter.js";

import { setupPresence } from "./presence/setup.js";
import { setupProfiles } from "./profiles/setup.js";
import { badgeReadListener } from "./push/badge-sync.js";
import { setupPush } from "./push/setup.js";

import { rateLimitInterceptor } from "./rate-limits/interceptor.js";
import { createRateLimiter } from "./rate-limits/rate-limiter.js";
import { setupReceipts } from "./receipts/setup.js";
import { setupRelations } from "./relations/setup.js";
import { startServer } from "./server/server.js";
import { createSubscribeWriter } from "./server/subscribe-writer.js";
import { createMemoryStorage, openMongoStorage, type Storage } from "./storage/storage.js";
import { createOtlpTracing, noTracing } from "./tracing/tracing.js";
import { setupTyping } from "./typing/setup.js";
import { createWebhookClient, describeWebhookConfig } from "./webhooks/index.js";

export interface App {
  port: number;
  /** Where /metrics is served; undefined when metrics are off. */
  metricsPort: number | undefined;
  storage: Storage;
  bus: Bus;
  /** Re-reads the keyword file (SIGHUP); false when it is off or the new file was refused. */
  reloadKeywords(): Promise<boolean>;
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
    const metrics = config.metrics && (await setupMetrics({ ...config.metrics, logger }));
    if (metrics !== undefined) stops.push(metrics.stop);
    const meters = metrics?.meters;
    const tracing = config.tracing ? createOtlpTracing(config.tracing) : noTracing;
    stops.push(() => tracing.shutdown());
    const storage = config.mongo
      ? await openMongoStorage(config.mongo.url, config.mongo.database, {
          messageRetentionMs: messaging.retentionMs,
          monitorCommands: config.mongo.monitorCommands,
          ...(meters === undefined ? {} : { observeCommand: meters.storeCommandFinished }),
          write: { w: config.mongo.writeConcern, wtimeoutMs: config.mongo.writeConcernTimeoutMs },
        })
      : createMemoryStorage();
    stops.push(() => storage.close());
    // A short ack wait hands a dead node's push job over soon; running jobs renew it.
    const pushAckWait = { push: config.push.jobAckWaitMs };
    const bus = config.nats
      ? await openNatsBus({
          url: config.nats.url,
          namespace: config.nats.namespace,
          settings: {
            streamReplicas: config.nats.streamReplicas,
            streamReplicasOf: config.nats.streamReplicasOf,
            ackWaitMsOf: pushAckWait,
          },
          logger,
        })
      : createMemoryBus({ clock, logger, settings: { ackWaitMsOf: pushAckWait } });
    stops.push(() => bus.close());
    const webhooks = createWebhookClient({
      config: config.webhook,
      logger,
      clock,
      tracing,
      ...(meters === undefined ? {} : { meter: meters }),
    });
    const webhookState = describeWebhookConfig(config.webhook);
    logger.info(webhookState.message, webhookState.fields);
    stops.push(() => webhooks.close());

    // Hot-path reads (accounts, blocklist, friends, group, membership, mute) come
    // from caches that every write through these stores invalidates on every node.
    const lookups = setupLookupCaches({ bus, clock, logger, settings: config.lookupCache });
    const accountStore = lookups.accounts(storage.accounts);
    const relationStore = lookups.relations(storage.relations);
    const groupStores = lookups.groupStores({
      groups: storage.groups,
      members: storage.groupMembers,
    });

    const rateLimiter = createRateLimiter({
      counters: bus.counters,
      settings: config.rateLimits,
      clock,
      logger,
    });
    const authenticate = createAuthenticator({
      appId: config.appId,
      secretKey: config.secretKey,
      adminUserIds: config.adminUserIds,
      maxSkewSec: config.userSigMaxSkewSec,
      verifiedSigsMax: config.verifiedSigsMax,
      accounts: accountStore,
      clock,
    });

    // The components, each set up from its deps; later ones use earlier ones' small APIs.
    const streamsShutdown = new AbortController();
    const live = setupLive({
      bus,
      clock,
      logger,
      settings: messaging,
      // Cached per user: a reconnecting device reads no memberships.
      groupsOf: lookups.groupsOf(createGroupsOf({ members: groupStores.members })),
      streamsShutdown: streamsShutdown.signal,
    });
    const accounts = setupAccounts({
      store: accountStore,
      clock,
      batchMax: config.accountBatchMax,
      streams: live.hub,
    });
    const profiles = setupProfiles({
      store: storage.profiles,
      accounts: accountStore,
      settings: config.profiles,
      clock,
      live: live.hub,
      profileWatchers: (userId) => storage.relations.selectFriendOwners(userId),
    });
    const relations = setupRelations({
      store: relationStore,
      lookups: lookups.relationLookups(storage.relations),
      accounts: accountStore,
      friendRequestSettings: profiles.friendRequestSettings,
      settings: config.relations,
      c2cPolicy: config.c2cPolicy,
      clock,
      live: live.hub,
    });
    const pushing = config.push.apns !== undefined || config.push.fcm !== undefined;
    const push = setupPush({
      store: storage.pushTokens,
      broadcasts: storage.broadcasts,
      existingUserIds: (ids) => accountStore.selectExistingUserIds(ids),
      live: live.hub,
      messageLimits: messaging.messageLimits,
      groups: storage.groups,
      members: storage.groupMembers,
      nicknameOf: profiles.nicknameOf,
      countsUnread: (type) => config.groups.traits[type].unreadCounts,
      // Presence is set up below; the push consumer asks it only once messages flow.
      reachableLive: (userIds) => presence.presence.onlineDevices(userIds),
      // Conversations are set up below; the total is asked only once devices come and go.
      unreadTotal: (userId) => conversations.unreadTotal(userId),
      bus,
      config: config.push,
      clock,
      logger,
    });

    const typing = setupTyping({ live: live.hub, policy: relations.sendPolicy, clock });
    const keywords =
      config.keywordsFile === undefined
        ? undefined
        : await openKeywordFilter({ path: config.keywordsFile, logger });
    if (keywords !== undefined) stops.push(async () => keywords.close());
    const receipts = setupReceipts({
      store: storage.receipts,
      messages: storage.messages,
      groupMessages: storage.groupMessages,
      groups: groupStores.groups,
      members: groupStores.members,
      live: live.hub,
      settings: config.receipts,
      groupConfig: config.groups,
      clock,
      logger,
      retentionMs: messaging.retentionMs,
      writeBatchMax: messaging.writeBatchMax,
    });
    const conversations = setupConversations({
      storage: {
        ...storage,
        accounts: accountStore,
        groups: groupStores.groups,
        groupMembers: groupStores.members,
      },
      groupSendStores: lookups.groupSendStores(groupStores),
      c2cPolicy: relations.sendPolicy,
      bus,
      live: live.hub,
      webhooks,
      settings: messaging,
      groupConfig: config.groups,
      clock,
      logger,
      tracing,
      ...(meters === undefined ? {} : { meter: meters }),
      // No provider configured: no push work at all (fan-out publishes no jobs).
      ...(pushing ? { enqueuePush: push.enqueue } : {}),
      ...(keywords === undefined ? {} : { keywords }),
      // The badge follows reads only when something is pushed at all.
      readObserver: pushing
        ? withReadListeners(receipts.observer, badgeReadListener(push.badges))
        : receipts.observer,
    });
    const groups = setupGroups({
      groups: groupStores.groups,
      members: groupStores.members,
      applications: storage.groupApplications,
      accounts: accountStore,
      live: live.hub,
      webhooks,
      messaging: conversations.group,
      config: config.groups,
      clock,
      logger,
      newGroupId: generateGroupId,
    });
    const presence = await setupPresence({
      bus,
      hub: live.hub,
      clock,
      logger,
      config: config.presence,
      // The cached account store: a subscription of 200 users is 200 point reads on FerretDB.
      existingUserIds: (ids) => accountStore.selectExistingUserIds(ids),
      friendsOf: (userId) => storage.relations.selectFriendOwners(userId),
      webhooks,
      hasPushRegistration: push.hasRegistration,
      ...(pushing ? { deviceAway: push.badges.deviceAway } : {}),
    });
    presence.presence.onSessionEnded((e) => {
      push.unbind(e.userId, e.deviceId).catch((err: unknown) => {
        logger.warn("could not remove the push registration of a signed-out device", { err });
      });
    });
    const components: Component[] = [
      lookups,
      live,
      accounts,
      profiles,
      relations,
      conversations,
      receipts,
      groups,
      push,
      typing,

      presence,
    ];
    stops.push(async () => {
      for (const component of [...components].reverse()) await component.stop();
    });

    // One consumer reads the messages stream; each subject goes to the component that owns it.
    const fanout = await bus.consume("fanout", routeBySubject(mergeBusHandlers(components)));
    stops.push(() => fanout.stop());
    // Offline push has its own durable work consumer: slow providers never hold up fan-out.
    if (pushing) {
      const pushJobs = await bus.consume("push", push.jobHandler, {
        renewal: { maxMs: config.push.jobMaxMs },
      });
      stops.push(() => pushJobs.stop());
    }
    // Broadcasts reach online users live even when no provider is configured. A batch
    // (its pushes and pacing) renews its ack wait like a push job, so a slow provider
    // does not get it redelivered while it runs.
    const broadcastBatches = await bus.consume("broadcast", push.broadcastHandler, {
      renewal: { maxMs: config.push.jobMaxMs },
    });
    stops.push(() => broadcastBatches.stop());
    metrics?.sample({
      openStreams: live.hub.openStreams,
      outboxInFlight: conversations.outboxInFlight,
      outboxStale: conversations.outboxStale,
      consumerBacklog: async () => {
        const backlog = await bus.consumerBacklog?.("fanout");
        return backlog && { consumer: "fanout", ...backlog };
      },
    });
    for (const worker of components.flatMap((c) => c.workers)) {
      worker.start();
      stops.push(() => worker.stop());
    }
    const youngRelease = startYoungGenerationRelease(config.youngGenerationCheckMs, logger);
    if (youngRelease !== undefined) stops.push(() => youngRelease.stop());

    const server = await startServer({
      routes(router) {
        for (const register of components.flatMap((c) => c.services)) register(router);
      },
      authenticate,
      logger,
      host: config.host,
      port: config.port,
      tls: config.tls,
      shutdownGraceMs: config.shutdownGraceMs,
      limits: config.transport,
      interceptors: [rateLimitInterceptor(rateLimiter)],
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
      rawRoutes: [
        createSubscribeWriter({
          hub: live.hub,
          authenticate,
          logger,
          shutdown: streamsShutdown.signal,
          maxRequestBytes: config.transport.requestMaxBytes,
          rejectedBodyLingerMs: config.transport.rejectedBodyLingerMs,
          requestBodyTimeoutMs: config.transport.requestBodyTimeoutMs,
          ...(meters === undefined ? {} : { meter: meters }),

          admit: (caller) => rateLimiter.check(caller, "sessions"),
        }),
      ],
      tracing,
      ...(meters === undefined ? {} : { meters }),
    });
    stops.push(() => server.shutdown());
    logger.info("listening", {
      host: config.host,
      port: server.port,
      tls: config.tls !== undefined,
      metrics: metrics === undefined ? "off" : `${config.metrics?.host}:${metrics.port}`,
      tracing: config.tracing?.url ?? "off",
    });

    let closing: Promise<void> | undefined;
    return {
      port: server.port,
      metricsPort: metrics?.port,
      storage,
      bus,
      reloadKeywords: async () => (await keywords?.reload()) ?? false,
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
