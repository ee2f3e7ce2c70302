import { create } from "@bufbuild/protobuf";
import type { Caller } from "../../auth/caller.js";
import type { Clock } from "../../common/clock.js";
import { ErrorReason, permissionDenied } from "../../errors/domain-error.js";
import { SubscribeResponseSchema } from "../../gen/im/v1/events_pb.js";
import type {
  ListGroupMessagesRequest,
  SyncGroupMessagesRequest,
} from "../../gen/im/v1/group_pb.js";
import { requireAllowed, typeUnsupported } from "../../groups/actor.js";
import type { GroupConfig } from "../../groups/config.js";
import type { GroupMemberRecord, GroupMemberStore, GroupRecord } from "../../groups/store.js";
import type { LiveHub } from "../../live/live-hub.js";
import { createHistoryPages } from "../history.js";
import { type GroupAccessDeps, loadGroupAccess } from "./access.js";
import type { GroupMessageStore } from "./store.js";

export interface GroupHistoryDeps extends GroupAccessDeps {
  members: Pick<GroupMemberStore, "selectMember" | "updateMemberReadSeq">;
  messages: GroupMessageStore;
  live: Pick<LiveHub, "publishToUser">;
  config: GroupConfig;
  clock: Clock;
  retentionMs: number;
}

/**
 * Reads of group messages and per-member read state. Members see what the
 * type lets them: without pre-join history only seqs above the one the group
 * had when they joined; app admins see everything. Always within retention.
 */
export function createGroupHistory(deps: GroupHistoryDeps) {
  const { messages, config } = deps;
  const pages = createHistoryPages({
    store: messages,
    clock: deps.clock,
    retentionMs: deps.retentionMs,
  });
  const { oldestVisible } = pages;

  /** Others' messages that count toward unread, above both seqs, within retention. */
  const unreadAfter = (groupId: string, userId: string, readSeq: number, hiddenUpTo: number) =>
    messages.countGroupUnread(groupId, userId, Math.max(readSeq, hiddenUpTo), oldestVisible());

  /** The group, and the highest seq the caller may not see (0: none hidden). */
  const openHistory = async (caller: Caller, groupId: string) => {
    const access = await loadGroupAccess(deps, caller, groupId);
    requireAllowed(access.group, "readHistory", access.actor);
    const traits = config.traits[access.group.type];
    const hiddenUpTo =
      access.actor === "appAdmin" || traits.preJoinHistory ? 0 : (access.member?.joinSeq ?? 0);
    return { ...access, hiddenUpTo };
  };

  return {
    /** Fills a gap: ascending by seq; `coveredUpToSeq` says how far the answer is complete. */
    async syncMessages(caller: Caller, req: SyncGroupMessagesRequest) {
      const { group, hiddenUpTo } = await openHistory(caller, req.groupId);
      return pages.sync(group.groupId, req, { hiddenUpTo, lastSeq: group.lastSeq });
    },

    /** History newest first; the cursor carries the seq to continue below. */
    async listMessages(caller: Caller, req: ListGroupMessagesRequest) {
      const { group, hiddenUpTo } = await openHistory(caller, req.groupId);
      return pages.list(group.groupId, req, hiddenUpTo);
    },

    /**
     * A member's unread count as MarkGroupRead answers it: 0 for types without
     * unread counts, and without a store read when the member has read the latest.
     */
    async unreadOf(group: GroupRecord, member: GroupMemberRecord): Promise<number> {
      const traits = config.traits[group.type];
      if (!traits.unreadCounts || member.readSeq >= group.lastSeq) return 0;
      const hiddenUpTo = traits.preJoinHistory ? 0 : member.joinSeq;
      return unreadAfter(group.groupId, member.userId, member.readSeq, hiddenUpTo);
    },

    /**
     * "Mentioned me / mentioned all": an unread message of someone else
     * @-mentions the member or everyone. Cleared by reading past it; false for
     * types without unread counts (they have no read state to clear it).
     */
    async mentionsOf(
      group: GroupRecord,
      member: GroupMemberRecord,
    ): Promise<{ me: boolean; all: boolean }> {
      const traits = config.traits[group.type];
      if (!traits.unreadCounts || member.readSeq >= group.lastSeq) return { me: false, all: false };
      const hiddenUpTo = traits.preJoinHistory ? 0 : member.joinSeq;
      return messages.selectGroupMentions(
        group.groupId,
        member.userId,
        Math.max(member.readSeq, hiddenUpTo),
        oldestVisible(),
      );
    },

    /** Raises the caller's read seq (clamped to the latest) and tells all the caller's devices. */
    async markRead(caller: Caller, groupId: string, requestedSeq: number) {
      const { group, member, hiddenUpTo } = await openHistory(caller, groupId);
      if (!config.traits[group.type].unreadCounts) throw typeUnsupported("read state");
      if (member === undefined) {
        throw permissionDenied(ErrorReason.NOT_GROUP_MEMBER, "you are not a member of this group");
      }
      const target = requestedSeq === 0 ? group.lastSeq : Math.min(requestedSeq, group.lastSeq);
      const readSeq =
        (await deps.members.updateMemberReadSeq(group.groupId, caller.userId, target)) ?? target;
      const unreadCount = await unreadAfter(group.groupId, caller.userId, readSeq, hiddenUpTo);
      deps.live.publishToUser(
        caller.userId,
        create(SubscribeResponseSchema, {
          event: {
            case: "groupRead",
            value: { groupId: group.groupId, readSeq: BigInt(readSeq), unreadCount },
          },
        }),
      );
      return { readSeq, unreadCount };
    },
  };
}

export type GroupHistory = ReturnType<typeof createGroupHistory>;
