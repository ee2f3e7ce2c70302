import { create } from "@bufbuild/protobuf";
import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import { decodeCursor, encodeCursor, pageSize } from "../common/cursor.js";
import { seqFromRequest, timeMsFromRequest } from "../common/proto-numbers.js";
import { ErrorReason, permissionDenied } from "../errors/domain-error.js";
import { SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import type {
  GroupMessage,
  ListGroupMessagesRequest,
  SyncGroupMessagesRequest,
} from "../gen/im/v1/group_pb.js";
import { requireAllowed, typeUnsupported } from "../groups/actor.js";
import type { GroupConfig } from "../groups/config.js";
import type { GroupMemberRecord, GroupMemberStore, GroupRecord } from "../groups/store.js";
import type { LiveHub } from "../live/live-hub.js";
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

const SYNC_MAX = 100;
const HISTORY_DEFAULT = 20;
const HISTORY_MAX = 100;

/**
 * Reads of group messages and per-member read state. Members see what the
 * type lets them: without pre-join history only seqs above the one the group
 * had when they joined; app admins see everything. Always within retention.
 */
export function createGroupHistory(deps: GroupHistoryDeps) {
  const { messages, clock, config } = deps;
  const oldestVisible = () => clock() - deps.retentionMs;

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
      const limit = pageSize(req.limit, SYNC_MAX, SYNC_MAX);
      const afterSeq = Math.max(seqFromRequest(req.afterSeq, "after_seq"), hiddenUpTo);
      const upToSeq = seqFromRequest(req.upToSeq, "up_to_seq");
      const found = await messages.selectGroupMessagesAfter(
        group.groupId,
        { afterSeq, upToSeq, minTimeMs: oldestVisible() },
        limit + 1,
      );
      const hasMore = found.length > limit;
      const page = found.slice(0, limit);
      const lastReturned = Number(page.at(-1)?.seq ?? 0);
      const lastSeq = Math.max(group.lastSeq, lastReturned);
      const bound = upToSeq === 0 ? lastSeq : Math.min(upToSeq, lastSeq);
      return {
        messages: page,
        coveredUpToSeq: BigInt(hasMore ? lastReturned : Math.max(bound, lastReturned, afterSeq)),
        hasMore,
        lastSeq: BigInt(lastSeq),
      };
    },

    /** History newest first; the cursor carries the seq to continue below. */
    async listMessages(caller: Caller, req: ListGroupMessagesRequest) {
      const { group, hiddenUpTo } = await openHistory(caller, req.groupId);
      const limit = pageSize(req.page?.pageSize ?? 0, HISTORY_DEFAULT, HISTORY_MAX);
      const cursor = decodeCursor(req.page?.cursor ?? "", { s: "number" });
      const requested = seqFromRequest(req.beforeSeq, "before_seq");
      const beforeSeq =
        cursor === undefined
          ? requested
          : requested === 0
            ? cursor.s
            : Math.min(cursor.s, requested);
      const found: GroupMessage[] = await messages.selectGroupMessagesBefore(
        group.groupId,
        {
          aboveSeq: hiddenUpTo,
          beforeSeq,
          minTimeMs: Math.max(timeMsFromRequest(req.minTimeMs, "min_time_ms"), oldestVisible()),
          maxTimeMs:
            req.maxTimeMs === 0n ? clock() : timeMsFromRequest(req.maxTimeMs, "max_time_ms"),
        },
        limit,
      );
      const last = found.at(-1);
      const nextCursor =
        found.length === limit && last ? encodeCursor({ s: Number(last.seq) }) : "";
      return { messages: found, nextCursor };
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
