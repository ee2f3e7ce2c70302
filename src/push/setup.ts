import type { Bus, EventHandler } from "../bus/index.js";
import type { Clock } from "../common/clock.js";
import { type Component, noBusHandlers } from "../common/component.js";
import type { PushJob } from "../gen/im/internal/v1/push_pb.js";
import { PushService } from "../gen/im/v1/push_pb.js";
import type { GroupMemberStore, GroupStore } from "../groups/store.js";
import type { Logger } from "../log/logger.js";
import { createApnsSender } from "./apns-sender.js";
import type { PushConfig } from "./config.js";
import { createFcmSender } from "./fcm-sender.js";
import { createPushJobHandler, encodePushJob } from "./push-worker.js";
import type { ReachableLive } from "./reachable.js";
import type { Sleep } from "./retry.js";
import { createPushService } from "./service.js";
import { createPushStats, type PushStats } from "./stats.js";
import type { PushTokenStore } from "./store.js";

export interface PushSetupDeps {
  store: PushTokenStore;
  groups: Pick<GroupStore, "selectGroup">;
  members: Pick<GroupMemberStore, "selectMembersPage">;
  nicknameOf(userId: string): Promise<string>;
  /** Which devices a live stream reaches on any node (presence). */
  reachableLive: ReachableLive;
  bus: Pick<Bus, "publish" | "registry">;
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
  stats: PushStats;
  /** For presence: a mobile device whose stream ended stays PushOnline only with a registration. */
  hasRegistration(userId: string, deviceId: string): Promise<boolean>;
  /** For presence: a device that logged out or was kicked gets no more pushes. */
  unbind(userId: string, deviceId: string): Promise<void>;
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
  return {
    enqueue: (job) => publishJob(job, `push:${job.messageKey}`),
    jobHandler: createPushJobHandler({
      store: deps.store,
      clock,
      groups: deps.groups,
      members: deps.members,
      nicknameOf: deps.nicknameOf,
      reachableLive: deps.reachableLive,
      apns,
      fcm,
      publishJob,
      batchSize: config.batchSize,
      concurrency: config.concurrency,
      retry: config.retry,
      stats,
      logger: deps.logger,
      ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
    }),
    stats,
    hasRegistration: async (userId, deviceId) =>
      (await deps.store.selectPushRegistrations([userId])).some((r) => r.deviceId === deviceId),
    unbind: async (userId, deviceId) => {
      await deps.store.deletePushRegistration(userId, deviceId);
    },
    services: [
      (router) =>
        router.service(PushService, createPushService({ store: deps.store, clock, stats })),
    ],
    busHandlers: noBusHandlers,
    workers: [],
    stop: async () => {
      await apns?.close();
    },
  };
}
