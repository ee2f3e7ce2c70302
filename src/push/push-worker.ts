import { clone, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type EventHandler, PoisonEventError } from "../bus/index.js";
import {
  type PushJob,
  PushJobSchema,
  type PushUsers,
  PushUsersSchema,
} from "../gen/im/internal/v1/push_pb.js";
import { GroupType, MessageReceiveOption } from "../gen/im/v1/group_pb.js";
import type { GroupMemberStore, GroupStore } from "../groups/store.js";
import type { OfflinePusher } from "./offline-push.js";
import { receiveOptionNotifies, renderPush } from "./push-text.js";
import type { ReachableLive } from "./reachable.js";

export interface PushWorkerDeps {
  groups: Pick<GroupStore, "selectGroup">;
  members: Pick<GroupMemberStore, "selectMembersPage">;
  /** The sender's nickname as profiles show it; empty when none. */
  nicknameOf(userId: string): Promise<string>;
  reachableLive: ReachableLive;
  pusher: OfflinePusher;
  /** Publishes a job to the push consumer (a group's batches) with a dedup id. */
  publishJob(job: PushJob, msgId: string): Promise<void>;
  batchSize: number;
  /** Whether a group type keeps unread counts (only then do quiet members' badges count its messages). */
  countsUnread(type: GroupType): boolean;
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
  const expandGroup = async (job: PushJob, groupId: string) => {
    const group = await deps.groups.selectGroup(groupId);
    // AVChatRoom never pushes (its members are the room's live audience).
    if (group === undefined || group.type === GroupType.AV_CHAT_ROOM) return;
    const mentioned = new Set(job.atUserIds);
    const countsUnread = deps.countsUnread(group.type);
    const senderNick = await deps.nicknameOf(job.fromUserId);
    let after = "";
    for (;;) {
      const page = await deps.members.selectMembersPage(groupId, after, deps.batchSize);
      if (page.length === 0) return;
      const userIds: string[] = [];
      // Not notified, still unread: their badges count it (DISCARD members' do not,
      // nor anyone's in types without unread).
      const badgeOnlyUserIds: string[] = [];
      for (const m of page) {
        if (m.userId === job.fromUserId || m.receiveOption === MessageReceiveOption.DISCARD) {
          continue;
        }
        if (receiveOptionNotifies(m.receiveOption, job.atAll || mentioned.has(m.userId))) {
          userIds.push(m.userId);
        } else if (countsUnread) {
          badgeOnlyUserIds.push(m.userId);
        }
      }
      if (userIds.length > 0 || badgeOnlyUserIds.length > 0) {
        const batch = clone(PushJobSchema, job);
        batch.audience = {
          case: "users",
          value: create(PushUsersSchema, { userIds, badgeOnlyUserIds }),
        };
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

  const pushToUsers = async (job: PushJob, users: PushUsers) => {
    await deps.pusher.push({
      userIds: users.userIds.filter((id) => id !== job.fromUserId),
      // A message is unread in quiet hours too: the badge counts it.
      badgeOnly: { userIds: users.badgeOnlyUserIds, inDoNotDisturb: true },
      live: deps.reachableLive,
      collapseKey: job.messageKey,
      content: async () => {
        const [senderNick, groupName] = await Promise.all([
          job.senderNick ?? deps.nicknameOf(job.fromUserId),
          job.groupName ??
            (job.batchGroupId === ""
              ? undefined
              : deps.groups.selectGroup(job.batchGroupId).then((g) => g?.name)),
        ]);
        return renderPush({
          body: job.body,
          pushInfo: job.offlinePushInfo,
          senderNick,
          ...(groupName === undefined ? {} : { groupName }),
        });
      },
    });
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
    else if (audience.case === "users") await pushToUsers(job, audience.value);
    else throw new PoisonEventError("push job without an audience");
  };
}
