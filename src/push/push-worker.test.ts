import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import type { BusEvent } from "../bus/index.js";
import { type PushJob, PushJobSchema } from "../gen/im/internal/v1/push_pb.js";
import { TextElementSchema } from "../gen/im/v1/elements_pb.js";
import {
  ApplyJoinOption,
  GroupRole,
  GroupType,
  MessageReceiveOption,
} from "../gen/im/v1/group_pb.js";
import { silentLogger } from "../log/logger.js";
import { createMemoryGroupMemberStore } from "../storage/memory/group-member-store.js";
import { createMemoryGroupStore } from "../storage/memory/group-store.js";
import { createMemoryPushTokenStore } from "../storage/memory/push-store.js";
import type { ApnsRequest } from "./apns-sender.js";
import { createPushJobHandler, encodePushJob } from "./push-worker.js";
import { createPushStats } from "./stats.js";

const { ACCEPT_NOT_NOTIFY, ACCEPT_NOT_NOTIFY_EXCEPT_AT, DISCARD } = MessageReceiveOption;

/**
 * The worker's own decisions, without a bus in between: batch jobs are handled
 * in the order they were published, and every handler has returned before the
 * assertions, so "nothing was pushed" here means the worker decided not to.
 */
async function world(
  options: Record<string, MessageReceiveOption>,
  live: Record<string, string[]>,
) {
  const store = createMemoryPushTokenStore();
  const groups = createMemoryGroupStore();
  const members = createMemoryGroupMemberStore();
  const sent: ApnsRequest[] = [];
  const queue: PushJob[] = [];
  const lookups = { nick: 0 };
  const handler = createPushJobHandler({
    store,
    clock: () => Date.parse("2026-06-01T12:00:00Z"),
    groups,
    members,
    nicknameOf: async (userId) => {
      lookups.nick++;
      return `Nick ${userId}`;
    },
    reachableLive: async (userIds) => new Map(userIds.map((u) => [u, live[u] ?? []])),
    apns: {
      send: async (request) => {
        sent.push(request);
        return { kind: "sent" };
      },
      close: async () => {},
    },
    fcm: undefined,
    publishJob: async (job) => {
      queue.push(job);
    },
    batchSize: 2,
    concurrency: 4,
    retry: { maxAttempts: 1, backoffMs: 1, maxBackoffMs: 1 },
    stats: createPushStats(),
    logger: silentLogger,
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
  const pushGroupMessage = async (mentions: {
    atUserIds?: string[];
    atAll?: boolean;
  }): Promise<string[]> => {
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
      const event: BusEvent = {
        subject: "push",
        data: encodePushJob(job),
        msgId: undefined,
        streamSeq: seq,
        deliveryCount: 1,
      };
      await handler(event);
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
});
