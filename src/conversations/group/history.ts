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
import { assertGroupId } from "../../groups/group-id.js";
import type { GroupMemberRecord, GroupMemberStore, GroupRecord } from "../../groups/store.js";
import type { LiveHub } from "../../live/live-hub.js";
import { type HiddenForMe, hiddenFor, hiddenOf, unreadRangeOf } from "../deleted-for-me.js";
import type { DeletedForMeStore } from "../deleted-for-me-store.js";
import { createHistoryPages, viewWith } from "../history.js";
import type { ReadObserver } from "../read-observer.js";
import { type GroupAccessDeps, loadGroupAccess } from "./access.js";
import type { GroupMessageStore } from "./store.js";

export interface GroupHistoryDeps extends GroupAccessDeps {
  members: Pick<GroupMemberStore, "selectMember" | "updateMemberReadSeq">;
  messages: GroupMessageStore;
  /** What each member deleted for themselves: their own history and unread leave it out. */
  deletedForMe: Pick<DeletedForMeStore, "selectDeletedForMe" | "selectDeletedForMeMany">;
  live: Pick<LiveHub, "publishToUser">;
  config: GroupConfig;
  clock: Clock;
  retentionMs: number;
  /** Told of members' reads (read receipts); none when unset. */
  readObserver?: Pick<ReadObserver, "groupRead">;
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

  /**
   * The range of a member's unread and mentions: above the read seq, the seqs
   * hidden by the type and the member's own cleared seq, less their deletes.
   */
  const unreadRange = (readSeq: number, hiddenUpTo: number, hidden: HiddenForMe) =>
    unreadRangeOf(hidden, Math.max(readSeq, hiddenUpTo));
  /** Others' messages that count toward unread, within retention. */
  const unreadAfter = (
    groupId: string,
    userId: string,
    readSeq: number,
    hiddenUpTo: number,
    hidden: HiddenForMe,
  ) => {
    const { afterSeq, exceptSeqs } = unreadRange(readSeq, hiddenUpTo, hidden);
    return messages.countGroupUnread(groupId, userId, afterSeq, oldestVisible(), exceptSeqs);
  };

  /** Whether the member may have unread: the type counts it and they have not read the latest. */
  const hasUnread = (group: GroupRecord, member: GroupMemberRecord) =>
    config.traits[group.type].unreadCounts && member.readSeq < group.lastSeq;
  /** The member's unread (hasUnread holds), less what they deleted for themselves. */
  const countUnread = (group: GroupRecord, member: GroupMemberRecord, hidden: HiddenForMe) => {
    const hiddenUpTo = config.traits[group.type].preJoinHistory ? 0 : member.joinSeq;
    return unreadAfter(group.groupId, member.userId, member.readSeq, hiddenUpTo, hidden);
  };

  /** The group, and the highest seq the caller may not see (0: none hidden). */
  const openHistory = async (caller: Caller, groupId: string) => {
    assertGroupId(groupId);
    // The caller's deleted-for-me marks are read alongside the access check, not after it.
    const [access, hidden] = await Promise.all([
      loadGroupAccess(deps, caller, groupId),
      hiddenFor(deps.deletedForMe, caller.userId, groupId),
    ]);
    requireAllowed(access.group, "readHistory", access.actor);
    const traits = config.traits[access.group.type];
    const hiddenUpTo =
      access.actor === "appAdmin" || traits.preJoinHistory ? 0 : (access.member?.joinSeq ?? 0);
    return { ...access, hiddenUpTo, hidden };
  };

  return {
    /** Fills a gap: ascending by seq; `coveredUpToSeq` says how far the answer is complete. */
    async syncMessages(caller: Caller, req: SyncGroupMessagesRequest) {
      const { group, hiddenUpTo, hidden } = await openHistory(caller, req.groupId);
      return pages.sync(
        group.groupId,
        req,
        viewWith(hidden, { hiddenUpTo, lastSeq: group.lastSeq }),
      );
    },

    /** History newest first; the cursor carries the seq to continue below. */
    async listMessages(caller: Caller, req: ListGroupMessagesRequest) {
      const { group, hiddenUpTo, hidden } = await openHistory(caller, req.groupId);
      return pages.list(group.groupId, req, viewWith(hidden, { hiddenUpTo, lastSeq: 0 }));
    },

    /**
     * A member's unread count as MarkGroupRead answers it: 0 for types without
     * unread counts, and without a store read when the member has read the latest.
     */
    async unreadOf(group: GroupRecord, member: GroupMemberRecord): Promise<number> {
      if (!hasUnread(group, member)) return 0;
      return countUnread(
        group,
        member,
        await hiddenFor(deps.deletedForMe, member.userId, group.groupId),
      );
    },

    /** unreadOf of one user in many groups, their deleted-for-me marks read at once. */
    async unreadOfMany(
      userId: string,
      of: readonly { group: GroupRecord; member: GroupMemberRecord }[],
    ): Promise<number[]> {
      const counted = of.filter(({ group, member }) => hasUnread(group, member));
      const marks =
        counted.length === 0
          ? new Map()
          : await deps.deletedForMe.selectDeletedForMeMany(
              userId,
              counted.map(({ group }) => group.groupId),
            );
      return Promise.all(
        of.map(({ group, member }) =>
          hasUnread(group, member)
            ? countUnread(group, member, hiddenOf(marks.get(group.groupId)))
            : 0,
        ),
      );
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
      const hidden = await hiddenFor(deps.deletedForMe, member.userId, group.groupId);
      const { afterSeq, exceptSeqs } = unreadRange(member.readSeq, hiddenUpTo, hidden);
      return messages.selectGroupMentions(
        group.groupId,
        member.userId,
        afterSeq,
        oldestVisible(),
        exceptSeqs,
      );
    },

    /** Raises the caller's read seq (clamped to the latest); when it rose, tells all the caller's devices. */
    async markRead(caller: Caller, groupId: string, requestedSeq: number) {
      const { group, member, hiddenUpTo, hidden } = await openHistory(caller, groupId);
      if (!config.traits[group.type].unreadCounts) throw typeUnsupported("read state");
      if (member === undefined) {
        throw permissionDenied(ErrorReason.NOT_GROUP_MEMBER, "you are not a member of this group");
      }
      const target = requestedSeq === 0 ? group.lastSeq : Math.min(requestedSeq, group.lastSeq);
      const raised = await deps.members.updateMemberReadSeq(group.groupId, caller.userId, target);
      const readSeq = raised?.after ?? target;
      const [unreadCount] = await Promise.all([
        // Read up to the latest (the usual MarkGroupRead): nothing to count.
        readSeq >= group.lastSeq
          ? 0
          : unreadAfter(group.groupId, caller.userId, readSeq, hiddenUpTo, hidden),
        // The member's cached read seq may lag: reads it covers again are idempotent.
        deps.readObserver?.groupRead(
          group,
          caller.userId,
          Math.max(member.readSeq, hiddenUpTo),
          readSeq,
        ),
      ]);
      // A read that raised nothing is no news to the caller's devices.
      if (raised !== undefined && raised.after <= raised.before) return { readSeq, unreadCount };
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
