import type { Bus, EventHandler } from "../bus/index.js";
import type { Clock } from "../common/clock.js";
import { type Component, noBusHandlers } from "../common/component.js";
import { createPeriodicWorker } from "../common/periodic-worker.js";
import type { MessageLimits } from "../conversations/validate-body.js";
import type { BroadcastBatch, PushJob } from "../gen/im/internal/v1/push_pb.js";
import { BroadcastService } from "../gen/im/v1/broadcast_pb.js";
import type { GroupType } from "../gen/im/v1/group_pb.js";
import { PushService } from "../gen/im/v1/push_pb.js";
import type { GroupMemberStore, GroupStore } from "../groups/store.js";
import type { LiveHub } from "../live/live-hub.js";
import type { Logger } from "../log/logger.js";
import { createApnsSender } from "./apns-sender.js";
import { type BadgeSync, createBadgeSync } from "./badge-sync.js";
import { createBroadcastService } from "./broadcast-service.js";
import type { BroadcastStore } from "./broadcast-store.js";
import { createBroadcastHandler, encodeBroadcastBatch } from "./broadcast-worker.js";
import type { PushConfig } from "./config.js";
import { createFcmSender } from "./fcm-sender.js";
import { createOfflinePusher } from "./offline-push.js";
import { createPushJobHandler, encodePushJob } from "./push-worker.js";
import type { ReachableLive } from "./reachable.js";
import { realSleep, type Sleep } from "./retry.js";
import { createPushService } from "./service.js";
import { createPushStats, type PushStats } from "./stats.js";
import type { PushTokenStore } from "./store.js";

/** How often claims past their retention are swept. */
const CLAIM_SWEEP_MS = 10 * 60_000;

export interface PushSetupDeps {
  store: PushTokenStore;
  broadcasts: BroadcastStore;
  /** The subset of `userIds` that have an account (labels are set on accounts only). */
  existingUserIds(userIds: readonly string[]): Promise<Set<string>>;
  live: Pick<LiveHub, "publishToUsers">;
  messageLimits: MessageLimits;
  groups: Pick<GroupStore, "selectGroup">;
  members: Pick<GroupMemberStore, "selectMembersPage">;
  nicknameOf(userId: string): Promise<string>;
  /** Whether a group type keeps unread counts (group config traits). */
  countsUnread(type: GroupType): boolean;
  /** Which devices a live stream reaches on any node (presence). */
  reachableLive: ReachableLive;
  /** A user's total unread (conversations): what the badge restarts from. */
  unreadTotal(userId: string): Promise<number>;
  bus: Pick<Bus, "publish" | "registry" | "counters">;
  config: PushConfig;
  clock: Clock;
  logger: Logger;
  /** Tests: waits between provider retries. */
  sleep?: Sleep;
}

export interface PushComponent extends Component {
  /** For the fan-out: hands a stored message's push work to the push consumer. */
  enqueue(job: PushJob): Promise<void>;
  /** The handler of the durable "push" consumer. */
  jobHandler: EventHandler;
  /** The handler of the durable "broadcast" consumer (runs even without a provider: live delivery). */
  broadcastHandler: EventHandler;
  stats: PushStats;
  /** For presence: a mobile device whose stream ended stays PushOnline only with a registration. */
  hasRegistration(userId: string, deviceId: string): Promise<boolean>;
  /** For presence: a device that logged out or was kicked gets no more pushes. */
  unbind(userId: string, deviceId: string): Promise<void>;
  /** For presence (a device away) and reads: the badge set to the total unread. */
  badges: BadgeSync;
}

/** Push: PushService (device registrations) and the offline push work consumer. */
export function setupPush(deps: PushSetupDeps): PushComponent {
  const { config, clock, bus } = deps;
  const apns = config.apns && createApnsSender(config.apns, clock);
  const fcm = config.fcm && createFcmSender(config.fcm, clock);
  const stats = createPushStats();
  const publishJob = async (job: PushJob, msgId: string) => {
    await bus.publish(bus.registry.subjects.pushJob, encodePushJob(job), { msgId });
  };
  const publishBatch = async (batch: BroadcastBatch, msgId: string) => {
    await bus.publish(bus.registry.subjects.broadcastBatch, encodeBroadcastBatch(batch), {
      msgId,
    });
  };
  const sleep = deps.sleep ?? realSleep;
  const pusher = createOfflinePusher({
    store: deps.store,
    clock,
    apns,
    fcm,
    concurrency: config.concurrency,
    retry: config.retry,
    stats,
    logger: deps.logger,
    sleep,
    claimDeliveries: (keys) => deps.broadcasts.claimDeliveries(keys, clock()),
    userRate: config.userRate,
    counters: bus.counters,
  });
  const badges = createBadgeSync({
    store: deps.store,
    unreadTotal: deps.unreadTotal,
    reachableLive: deps.reachableLive,
    logger: deps.logger,
  });
  return {
    enqueue: (job) => publishJob(job, `push:${job.messageKey}`),
    jobHandler: createPushJobHandler({
      groups: deps.groups,
      members: deps.members,
      nicknameOf: deps.nicknameOf,
      reachableLive: deps.reachableLive,
      pusher,
      publishJob,
      batchSize: config.batchSize,
      countsUnread: deps.countsUnread,
    }),
    broadcastHandler: createBroadcastHandler({
      store: deps.broadcasts,
      pusher,
      onlineDevices: deps.reachableLive,
      live: deps.live,
      publishBatch,
      settings: config.broadcast,
      clock,
      sleep,
    }),
    stats,
    badges,
    hasRegistration: async (userId, deviceId) =>
      (await deps.store.selectPushRegistrations([userId])).some((r) => r.deviceId === deviceId),
    unbind: async (userId, deviceId) => {
      await deps.store.deletePushRegistration(userId, deviceId);
    },
    services: [
      (router) =>
        router.service(PushService, createPushService({ store: deps.store, clock, stats })),
      (router) =>
        router.service(
          BroadcastService,
          createBroadcastService({
            store: deps.broadcasts,
            settings: config.broadcast,
            messageLimits: deps.messageLimits,
            existingUserIds: deps.existingUserIds,
            publishBatch,
            clock,
          }),
        ),
    ],
    busHandlers: noBusHandlers,
    workers: [
      createPeriodicWorker({
        name: "sweeping push claims",
        run: () => deps.broadcasts.deleteClaimsBefore(clock() - config.claimRetentionMs),
        intervalMs: CLAIM_SWEEP_MS,
        logger: deps.logger,
      }),
    ],
    stop: async () => {
      // Badge updates after reads run in the background: done before storage closes.
      await badges.settled();
      await apns?.close();
    },
  };
}
