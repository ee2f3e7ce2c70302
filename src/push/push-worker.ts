import { clone, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type EventHandler, PoisonEventError } from "../bus/index.js";
import type { Clock } from "../common/clock.js";
import { type PushJob, PushJobSchema, PushUsersSchema } from "../gen/im/internal/v1/push_pb.js";
import { GroupType } from "../gen/im/v1/group_pb.js";
import type { GroupMemberStore, GroupStore } from "../groups/store.js";
import type { Logger } from "../log/logger.js";
import { apnsPayload } from "./apns-payload.js";
import type { ApnsSender } from "./apns-sender.js";
import { inDoNotDisturb } from "./do-not-disturb.js";
import { fcmMessage } from "./fcm-message.js";
import type { FcmSender } from "./fcm-sender.js";
import { createLimiter } from "./limiter.js";
import type { SendOutcome } from "./provider.js";
import { type PushContent, receiveOptionNotifies, renderPush } from "./push-text.js";
import type { ReachableLive } from "./reachable.js";
import { type RetryPolicy, realSleep, type Sleep, sendWithRetry } from "./retry.js";
import type { PushStats } from "./stats.js";
import { deviceKey, type PushRegistration, type PushTokenStore } from "./store.js";

export interface PushWorkerDeps {
  store: PushTokenStore;
  clock: Clock;
  groups: Pick<GroupStore, "selectGroup">;
  members: Pick<GroupMemberStore, "selectMembersPage">;
  /** The sender's nickname as profiles show it; empty when none. */
  nicknameOf(userId: string): Promise<string>;
  reachableLive: ReachableLive;
  apns: ApnsSender | undefined;
  fcm: FcmSender | undefined;
  /** Publishes a job to the push consumer (a group's batches) with a dedup id. */
  publishJob(job: PushJob, msgId: string): Promise<void>;
  batchSize: number;
  /** Notifications in flight at once per provider, in this process. */
  concurrency: number;
  retry: RetryPolicy;
  stats: PushStats;
  logger: Logger;
  sleep?: Sleep;
}

export const encodePushJob = (job: PushJob): Uint8Array => toBinary(PushJobSchema, job);

/**
 * The push work consumer's handler. A group job is expanded into batch jobs
 * of members whose receive option lets the message notify them (each batch a
 * durable job with its own dedup id, so a crash repeats at most one batch); a
 * users job pushes to each registered device those users have that no live
 * stream reaches. Dead tokens are removed; other failures are counted and
 * logged, never redelivered (the provider retries are done here).
 */
export function createPushJobHandler(deps: PushWorkerDeps): EventHandler {
  const sleep = deps.sleep ?? realSleep;
  const limiters = { apns: createLimiter(deps.concurrency), fcm: createLimiter(deps.concurrency) };

  const expandGroup = async (job: PushJob, groupId: string) => {
    const group = await deps.groups.selectGroup(groupId);
    // AVChatRoom never pushes (its members are the room's live audience).
    if (group === undefined || group.type === GroupType.AV_CHAT_ROOM) return;
    const mentioned = new Set(job.atUserIds);
    const senderNick = await deps.nicknameOf(job.fromUserId);
    let after = "";
    for (;;) {
      const page = await deps.members.selectMembersPage(groupId, after, deps.batchSize);
      if (page.length === 0) return;
      const userIds = page
        .filter(
          (m) =>
            m.userId !== job.fromUserId &&
            receiveOptionNotifies(m.receiveOption, job.atAll || mentioned.has(m.userId)),
        )
        .map((m) => m.userId);
      if (userIds.length > 0) {
        const batch = clone(PushJobSchema, job);
        batch.audience = { case: "users", value: create(PushUsersSchema, { userIds }) };
        batch.batchGroupId = groupId;
        batch.senderNick = senderNick;
        batch.groupName = group.name;
        // Keyed by where the page starts, so a redelivered group job republishes the same ids.
        await deps.publishJob(batch, `push:${job.messageKey}:${after}`);
      }
      if (page.length < deps.batchSize) return;
      after = page[page.length - 1]?.userId ?? after;
    }
  };

  const deliver = async (
    reg: PushRegistration,
    content: PushContent,
    badge: number | undefined,
    collapseKey: string,
  ) => {
    const channel = reg.target.channel;
    let send: (() => Promise<SendOutcome>) | undefined;
    if (reg.target.channel === "apns" && deps.apns !== undefined) {
      const { apns } = deps;
      const request = {
        token: reg.target.token,
        environment: reg.target.environment,
        topic: reg.target.bundleId,
        payload: apnsPayload(content, badge),
        collapseId: collapseKey,
      };
      send = () => apns.send(request);
    } else if (reg.target.channel === "fcm" && deps.fcm !== undefined) {
      const { fcm } = deps;
      const token = reg.target.token;
      const message = fcmMessage(content, collapseKey, badge);
      send = () => fcm.send(token, message);
    }
    if (send === undefined) {
      deps.stats.record(channel, "not-configured");
      return;
    }
    const sendOnce = send;
    const { outcome } = await limiters[channel].run(() =>
      sendWithRetry(sendOnce, deps.retry, sleep),
    );
    if (outcome.kind === "sent") {
      deps.stats.record(channel, "sent");
    } else if (outcome.kind === "invalid-token") {
      await deps.store.deletePushToken(channel, reg.target.token);
      deps.stats.record(channel, "removed");
      deps.logger.info("push: token removed", { channel, reason: outcome.reason });
    } else {
      deps.stats.record(channel, { failed: outcome.reason });
      deps.logger.warn("push: not delivered", { channel, reason: outcome.reason });
    }
  };

  const pushToUsers = async (job: PushJob, userIds: readonly string[]) => {
    const recipients = userIds.filter((id) => id !== job.fromUserId);
    const [all, quiet] = await Promise.all([
      deps.store.selectPushRegistrations(recipients),
      deps.store.selectDoNotDisturb(recipients),
    ]);
    const now = deps.clock();
    const registered = all.filter((r) => {
      const window = quiet.get(r.userId);
      return window === undefined || !inDoNotDisturb(window, now);
    });
    if (registered.length === 0) return;
    const live = await deps.reachableLive([...new Set(registered.map((r) => r.userId))]);
    const offline = registered.filter((r) => live.get(r.userId)?.includes(r.deviceId) !== true);
    if (offline.length === 0) return;
    const [senderNick, groupName] = await Promise.all([
      job.senderNick ?? deps.nicknameOf(job.fromUserId),
      job.groupName ??
        (job.batchGroupId === ""
          ? undefined
          : deps.groups.selectGroup(job.batchGroupId).then((g) => g?.name)),
    ]);
    const content = renderPush({
      body: job.body,
      pushInfo: job.offlinePushInfo,
      senderNick,
      ...(groupName === undefined ? {} : { groupName }),
    });
    if (content === undefined) return;
    const badges = content.countsBadge
      ? await deps.store.incrementBadges(
          offline.map((r) => ({ userId: r.userId, deviceId: r.deviceId })),
        )
      : new Map(offline.map((r) => [deviceKey(r.userId, r.deviceId), r.badge]));
    await Promise.all(
      offline.map((r) =>
        deliver(r, content, badges.get(deviceKey(r.userId, r.deviceId)), job.messageKey),
      ),
    );
  };

  return async (event) => {
    let job: PushJob;
    try {
      job = fromBinary(PushJobSchema, event.data);
    } catch (err) {
      throw new PoisonEventError("undecodable push job", { cause: err });
    }
    const audience = job.audience;
    if (audience.case === "groupId") await expandGroup(job, audience.value);
    else if (audience.case === "users") await pushToUsers(job, audience.value.userIds);
    else throw new PoisonEventError("push job without an audience");
  };
}
