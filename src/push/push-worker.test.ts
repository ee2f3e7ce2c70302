import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import type { BusEvent } from "../bus/index.js";
import { createMemoryWindowCounters } from "../bus/memory-window-counters.js";
import { type PushJob, PushJobSchema } from "../gen/im/internal/v1/push_pb.js";
import { TextElementSchema } from "../gen/im/v1/elements_pb.js";
import {
  ApplyJoinOption,
  GroupRole,
  GroupType,
  MessageReceiveOption,
} from "../gen/im/v1/group_pb.js";
import { silentLogger } from "../log/logger.js";
import { createMemoryBroadcastStore } from "../storage/memory/broadcast-store.js";
import { createMemoryGroupMemberStore } from "../storage/memory/group-member-store.js";
import { createMemoryGroupStore } from "../storage/memory/group-store.js";
import { createMemoryPushTokenStore } from "../storage/memory/push-store.js";
import type { ApnsRequest } from "./apns-sender.js";
import { createOfflinePusher } from "./offline-push.js";
import { createPushJobHandler, encodePushJob } from "./push-worker.js";
import { createPushStats } from "./stats.js";
import { deviceKey } from "./store.js";

const { ACCEPT_NOT_NOTIFY, ACCEPT_NOT_NOTIFY_EXCEPT_AT, DISCARD } = MessageReceiveOption;

/**
 * The worker's own decisions, without a bus in between: batch jobs are handled
 * in the order they were published, and every handler has returned before the
 * assertions, so "nothing was pushed" here means the worker decided not to.
 */
async function world(
  options: Record<string, MessageReceiveOption>,
  live: Record<string, string[]>,
  userRate?: { max: number; windowMs: number },
) {
  const store = createMemoryPushTokenStore();
  const claims = createMemoryBroadcastStore({ accountIds: () => [] });
  const groups = createMemoryGroupStore();
  const members = createMemoryGroupMemberStore();
  const sent: ApnsRequest[] = [];
  const queue: PushJob[] = [];
  const lookups = { nick: 0 };
  const pusher = createOfflinePusher({
    store,
    clock: () => Date.parse("2026-06-01T12:00:00Z"),
    apns: {
      send: async (request) => {
        sent.push(request);
        return { kind: "sent" };
      },
      close: async () => {},
    },
    fcm: undefined,
    concurrency: 4,
    retry: { maxAttempts: 1, backoffMs: 1, maxBackoffMs: 1 },
    stats: createPushStats(),
    logger: silentLogger,
    claimDeliveries: (keys) => claims.claimDeliveries(keys, 0),
    userRate: userRate ?? { max: 0, windowMs: 60_000 },
    counters: createMemoryWindowCounters(),
  });
  const handler = createPushJobHandler({
    groups,
    members,
    nicknameOf: async (userId) => {
      lookups.nick++;
      return `Nick ${userId}`;
    },
    reachableLive: async (userIds) => new Map(userIds.map((u) => [u, live[u] ?? []])),
    pusher,
    publishJob: async (job) => {
      queue.push(job);
    },
    batchSize: 2,
    countsUnread: (type) => type !== GroupType.MEETING,
  });
  await groups.insertGroup({
    groupId: "g",
    type: GroupType.PUBLIC,
    name: "Climbers",
    introduction: "",
    notification: "",
    faceUrl: "",
    ownerUserId: "owner",
    createdAtMs: 0,
    infoSeq: 0,
    lastInfoTimeMs: 0,
    lastMessageTimeMs: 0,
    lastSeq: 0,
    memberCount: 0,
    maxMemberCount: 0,
    applyJoinOption: ApplyJoinOption.FREE_ACCESS,
    muteAll: false,
    customFields: {},
    active: true,
  });
  const userIds = ["owner", ...Object.keys(options)];
  await members.insertMembers(
    userIds.map((userId) => ({
      groupId: "g",
      userId,
      role: GroupRole.MEMBER,
      joinedAtMs: 0,
      joinSeq: 0,
      readSeq: 0,
      receiveOption: options[userId] ?? MessageReceiveOption.ACCEPT_AND_NOTIFY,
      lastSendTimeMs: 0,
      nameCard: "",
      customFields: {},
    })),
  );
  for (const userId of userIds) {
    await store.upsertPushRegistration(
      userId,
      "phone",
      { channel: "apns", token: `tok-${userId}`, environment: "sandbox", bundleId: "b" },
      0,
    );
  }
  /** Handles the group job and every batch it published, in order; the users pushed to. */
  const pushGroupMessage = async (
    mentions: {
      atUserIds?: string[];
      atAll?: boolean;
    },
    /** Deliveries of every job (more than 1: JetStream redelivered it after a crash). */
    deliveries = 1,
  ): Promise<string[]> => {
    sent.length = 0;
    queue.push(
      create(PushJobSchema, {
        messageKey: `m${Math.random()}`,
        fromUserId: "owner",
        body: [{ element: { case: "text", value: create(TextElementSchema, { text: "hi" }) } }],
        audience: { case: "groupId", value: "g" },
        ...mentions,
      }),
    );
    for (let seq = 1; queue.length > 0; seq++) {
      const job = queue.shift() as PushJob;
      for (let deliveryCount = 1; deliveryCount <= deliveries; deliveryCount++) {
        const event: BusEvent = {
          subject: "push",
          data: encodePushJob(job),
          msgId: undefined,
          streamSeq: seq,
          deliveryCount,
        };
        await handler(event);
      }
    }
    return sent.map((r) => r.token.replace("tok-", "")).sort();
  };
  return { store, pushGroupMessage, sent, lookups };
}

describe("push worker decisions", () => {
  it("pushes to exactly the members whose receive option, mentions, quiet hours and live streams allow it", async () => {
    const { store, pushGroupMessage, sent, lookups } = await world(
      {
        notify: MessageReceiveOption.ACCEPT_AND_NOTIFY,
        quiet: ACCEPT_NOT_NOTIFY,
        exceptAt: ACCEPT_NOT_NOTIFY_EXCEPT_AT,
        mentioned: ACCEPT_NOT_NOTIFY_EXCEPT_AT,
        discard: DISCARD,
        resting: MessageReceiveOption.ACCEPT_AND_NOTIFY,
        streaming: MessageReceiveOption.ACCEPT_AND_NOTIFY,
        zed: MessageReceiveOption.ACCEPT_AND_NOTIFY,
      },
      { streaming: ["phone"] },
    );
    // All day in do-not-disturb.
    await store.upsertDoNotDisturb("resting", { startMinute: 5, endMinute: 5, timeZone: "" });

    expect(await pushGroupMessage({ atUserIds: ["mentioned", "quiet"] })).toEqual([
      "mentioned",
      "notify",
      "zed",
    ]);
    // The text names sender and group, read once for the whole group (not per batch of 2).
    expect(new Set(sent.map((r) => JSON.parse(r.payload).aps.alert.body))).toEqual(
      new Set(["Nick owner (Climbers): hi"]),
    );
    expect(lookups.nick).toBe(1);
    // @all reaches ACCEPT_NOT_NOTIFY_EXCEPT_AT members, never ACCEPT_NOT_NOTIFY or DISCARD.
    expect(await pushGroupMessage({ atAll: true })).toEqual([
      "exceptAt",
      "mentioned",
      "notify",
      "zed",
    ]);
  });

  it("pushes each device once when the group job and its batches are delivered again", async () => {
    const { pushGroupMessage } = await world(
      { ann: ACCEPT_NOT_NOTIFY_EXCEPT_AT, bob: 0, cy: 0 },
      {},
    );
    // A redelivered batch finds its devices claimed; the redelivered group job
    // republishes batches with the same ids (deduplicated by JetStream, not here).
    expect(await pushGroupMessage({ atAll: true }, 2)).toEqual(["ann", "bob", "cy"]);
  });

  it("counts the message on the badges of members it does not notify or who are in quiet hours, once", async () => {
    const { store, pushGroupMessage } = await world(
      {
        notify: 0,
        quiet: ACCEPT_NOT_NOTIFY,
        exceptAt: ACCEPT_NOT_NOTIFY_EXCEPT_AT,
        discard: DISCARD,
        resting: 0,
        streaming: ACCEPT_NOT_NOTIFY,
      },
      { streaming: ["phone"] },
    );
    await store.upsertDoNotDisturb("resting", { startMinute: 5, endMinute: 5, timeZone: "" });
    // Every job delivered twice (a crash): each device is counted once all the same.
    expect(await pushGroupMessage({}, 2)).toEqual(["notify"]);
    const badges = async () => {
      const users = ["notify", "quiet", "exceptAt", "discard", "resting", "streaming", "owner"];
      const got = await store.selectBadges(users.map((userId) => ({ userId, deviceId: "phone" })));
      return Object.fromEntries(users.map((u) => [u, got.get(deviceKey(u, "phone"))]));
    };
    // Not DISCARD (they take no messages), not a live device, not the sender.
    expect(await badges()).toEqual({
      notify: 1,
      quiet: 1,
      exceptAt: 1,
      discard: 0,
      resting: 1,
      streaming: 0,
      owner: 0,
    });
  });

  it("pushes a user at most PUSH_USER_RATE_MAX times per window", async () => {
    const { pushGroupMessage } = await world({ ann: 0, bob: 0 }, {}, { max: 2, windowMs: 60_000 });
    expect(await pushGroupMessage({})).toEqual(["ann", "bob"]);
    expect(await pushGroupMessage({})).toEqual(["ann", "bob"]);
    // The third message inside the minute reaches no one by push.
    expect(await pushGroupMessage({})).toEqual([]);
  });
});
