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
import type { DeletedForMeRecord, DeletedForMeStore } from "../deleted-for-me-store.js";
import { createHistoryPages, viewWith } from "../history.js";
import type { ReadObserver } from "../read-observer.js";
import { type GroupAccessDeps, loadGroupAccess } from "./access.js";
import type { GroupMessageStore } from "./store.js";

/** One group of a user and their membership in it. */
export interface MemberOf {
  group: GroupRecord;
  member: GroupMemberRecord;
}

/** A member's unread count and whether an unread message mentions them or everyone. */
export interface GroupReadState {
  unreadCount: number;
  me: boolean;
  all: boolean;
}

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
  /** Seqs up to this are not the member's to read (joined later, no pre-join history). */
  const hiddenUpToOf = (group: GroupRecord, member: GroupMemberRecord) =>
    config.traits[group.type].preJoinHistory ? 0 : member.joinSeq;
  /** The member's unread (hasUnread holds), less what they deleted for themselves. */
  const countUnread = (group: GroupRecord, member: GroupMemberRecord, hidden: HiddenForMe) =>
    unreadAfter(group.groupId, member.userId, member.readSeq, hiddenUpToOf(group, member), hidden);
  /** The user's deleted-for-me marks in the groups of `of` where they may have unread (one read). */
  const marksOf = async (userId: string, of: readonly MemberOf[]) => {
    const counted = of.filter(({ group, member }) => hasUnread(group, member));
    return counted.length === 0
      ? new Map<string, DeletedForMeRecord>()
      : deps.deletedForMe.selectDeletedForMeMany(
          userId,
          counted.map(({ group }) => group.groupId),
        );
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

    /** Unread counts of one user in many groups (the unread total), as readStatesOf counts them. */
    async unreadOfMany(userId: string, of: readonly MemberOf[]): Promise<number[]> {
      const marks = await marksOf(userId, of);
      return Promise.all(
        of.map(({ group, member }) =>
          hasUnread(group, member)
            ? countUnread(group, member, hiddenOf(marks.get(group.groupId)))
            : 0,
        ),
      );
    },

    /**
     * A member's unread count (as MarkGroupRead answers it) and "mentioned me /
     * mentioned all" (an unread message of someone else @-mentions the member or
     * everyone; cleared by reading past it), in many groups of one user (a
     * joined-groups page): their deleted-for-me marks read at once, no store
     * read for a group read to the latest or of a type without unread counts.
     */
    async readStatesOf(userId: string, of: readonly MemberOf[]): Promise<GroupReadState[]> {
      const marks = await marksOf(userId, of);
      return Promise.all(
        of.map(async ({ group, member }) => {
          if (!hasUnread(group, member)) return { unreadCount: 0, me: false, all: false };
          const hidden = hiddenOf(marks.get(group.groupId));
          const { afterSeq, exceptSeqs } = unreadRange(
            member.readSeq,
            hiddenUpToOf(group, member),
            hidden,
          );
          const [unreadCount, mentions] = await Promise.all([
            countUnread(group, member, hidden),
            messages.selectGroupMentions(
              group.groupId,
              member.userId,
              afterSeq,
              oldestVisible(),
              exceptSeqs,
            ),
          ]);
          return { unreadCount, ...mentions };
        }),
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
        // From the read seq the update replaced: concurrent reads of one member
        // (two devices, two nodes) then record disjoint ranges, not overlapping ones.
        deps.readObserver?.groupRead(
          group,
          caller.userId,
          Math.max(raised?.before ?? member.readSeq, hiddenUpTo),
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
