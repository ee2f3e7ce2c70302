import type { Caller } from "../auth/caller.js";
import type { Clock } from "../common/clock.js";
import { decodeCursor, encodeCursor, pageSize } from "../common/cursor.js";
import { enumFromRequest } from "../common/proto-enum.js";
import { seqFromRequest } from "../common/proto-numbers.js";
import type { GroupMessageStore } from "../conversations/group/store.js";
import { createGroupCommit } from "../conversations/group-commit.js";
import { ErrorReason, invalidArgument, notFound } from "../errors/domain-error.js";
import type { GroupMessage } from "../gen/im/v1/group_pb.js";
import {
  type ListGroupReadersRequest,
  ReaderFilter,
  ReaderFilterSchema,
} from "../gen/im/v1/receipts_pb.js";
import type { GroupConfig } from "../groups/config.js";
import { assertGroupId } from "../groups/group-id.js";
import type { GroupMemberStore, GroupRecord, GroupStore } from "../groups/store.js";
import type { GroupReceiptEvents } from "./group-receipt-events.js";
import type { GroupRead, ReceiptStore } from "./store.js";

export interface GroupReceiptsDeps {
  store: ReceiptStore;
  messages: Pick<GroupMessageStore, "selectReceiptRequests" | "selectMessage">;
  groups: Pick<GroupStore, "selectGroup">;
  members: Pick<GroupMemberStore, "selectMembersPage">;
  config: GroupConfig;
  events: Pick<GroupReceiptEvents, "touched">;
  clock: Clock;
  retentionMs: number;
  /** Most MarkGroupRead calls whose reads go to the store in one write. */
  writeBatchMax: number;
  /** ListGroupReaders page size, default and maximum. */
  readersPageMax: number;
}

/** Group read receipts: what members' reads and ReceiptService do. */
export interface GroupReceipts {
  /** A member read the group from above `afterSeq` up to `readSeq`. */
  read(group: GroupRecord, userId: string, afterSeq: number, readSeq: number): Promise<void>;
  /** Read counts of the caller's receipt-requested messages among `seqs`, in order. */
  receiptsOf(
    caller: Caller,
    groupId: string,
    seqs: readonly bigint[],
  ): Promise<{ seq: bigint; messageKey: string; readCount: number }[]>;
  /** Readers, or current members who have not read, of one message, by user id. */
  listReaders(
    caller: Caller,
    req: ListGroupReadersRequest,
  ): Promise<{ userIds: string[]; readCount: number; nextCursor: string }>;
}

/** Seqs per GetGroupReceipts call. */
const RECEIPTS_QUERY_MAX = 100;
/** Member pages one ListGroupReaders(UNREAD) call scans before it answers with a cursor. */
const MEMBER_PAGES_PER_CALL = 20;

/**
 * Group read receipts: a member's MarkGroupRead up to a seq reads every
 * receipt-requested message up to it; each read is one document per
 * (message, member), written group-committed with the other reads arriving
 * meanwhile on this node (one insert per batch), idempotent so a repeated or
 * overlapping read changes nothing. Counts come from those documents, never
 * from a counter (FerretDB's updates are not atomic across processes).
 */
export function createGroupReceipts(deps: GroupReceiptsDeps): GroupReceipts {
  const { store, messages, clock } = deps;
  const oldestVisible = () => clock() - deps.retentionMs;
  const writes = createGroupCommit<readonly GroupRead[], void>({
    maxBatch: deps.writeBatchMax,
    async write(batches) {
      await store.insertGroupReads(batches.flat());
      return batches.map(() => undefined);
    },
  });

  const receiptNotFound = () =>
    notFound(ErrorReason.RECEIPT_NOT_FOUND, "no message of yours with read receipts at this seq", {
      field: "seq",
    });
  /** The message at `seq` if the caller may see its receipts: theirs (or an admin), asked, not recalled. */
  const ownReceiptMessage = async (
    caller: Caller,
    groupId: string,
    seq: number,
  ): Promise<GroupMessage | undefined> => {
    const m = (await messages.selectMessage(groupId, seq))?.message;
    if (m === undefined || !m.needReadReceipt || m.recall !== undefined) return undefined;
    if (Number(m.timeMs) < oldestVisible()) return undefined;
    return m.fromUserId === caller.userId || caller.isAdmin ? m : undefined;
  };

  /** Current members who could read `m` and have not: a page from `afterUserId`. */
  const notYetReaders = async (
    m: GroupMessage,
    group: GroupRecord,
    after: string,
    limit: number,
  ) => {
    const seq = Number(m.seq);
    const preJoin = deps.config.traits[group.type].preJoinHistory;
    const out: string[] = [];
    let cursor = after;
    for (let pages = 0; pages < MEMBER_PAGES_PER_CALL; pages++) {
      const page = await deps.members.selectMembersPage(group.groupId, cursor, limit);
      if (page.length === 0) return { userIds: out, next: undefined };
      const could = page
        .filter((p) => p.userId !== m.fromUserId && (preJoin || p.joinSeq < seq))
        .map((p) => p.userId);
      const read = await store.selectGroupReadersAmong(m.messageKey, could);
      for (const u of could) {
        if (read.has(u)) continue;
        out.push(u);
        if (out.length === limit) return { userIds: out, next: u };
      }
      cursor = (page[page.length - 1] as { userId: string }).userId;
      if (page.length < limit) return { userIds: out, next: undefined };
    }
    return { userIds: out, next: cursor };
  };

  return {
    /** A member read the group from above `afterSeq` up to `readSeq`. */
    async read(group: GroupRecord, userId: string, afterSeq: number, readSeq: number) {
      if (!deps.config.traits[group.type].readReceipts || readSeq <= afterSeq) return;
      const requests = (
        await messages.selectReceiptRequests(group.groupId, {
          afterSeq,
          upToSeq: readSeq,
          minTimeMs: oldestVisible(),
        })
      ).filter((r) => r.fromUserId !== userId);
      if (requests.length === 0) return;
      const now = clock();
      await writes.submit(
        requests.map((r) => ({
          groupId: group.groupId,
          messageKey: r.messageKey,
          userId,
          timeMs: now,
          expireAtMs: now + deps.retentionMs,
        })),
      );
      for (const r of requests) {
        deps.events.touched({
          groupId: group.groupId,
          seq: r.seq,
          messageKey: r.messageKey,
          senderUserId: r.fromUserId,
        });
      }
    },

    /** Read counts of the caller's receipt-requested messages among `seqs`, in order. */
    async receiptsOf(caller: Caller, groupId: string, seqs: readonly bigint[]) {
      assertGroupId(groupId);
      if (seqs.length > RECEIPTS_QUERY_MAX) {
        throw invalidArgument(ErrorReason.TOO_MANY_ITEMS, `seqs: at most ${RECEIPTS_QUERY_MAX}`, {
          field: "seqs",
        });
      }
      const found = await Promise.all(
        seqs.map(async (s, i) => {
          const m = await ownReceiptMessage(caller, groupId, seqFromRequest(s, `seqs[${i}]`));
          if (m === undefined) return [];
          const readCount = await store.countGroupReads(m.messageKey);
          return [{ seq: m.seq, messageKey: m.messageKey, readCount }];
        }),
      );
      return found.flat();
    },

    /** Readers, or current members who have not read, of one message, by user id. */
    async listReaders(caller: Caller, req: ListGroupReadersRequest) {
      assertGroupId(req.groupId);
      const filter = enumFromRequest(ReaderFilterSchema, req.filter, "filter");
      const limit = pageSize(req.page?.pageSize ?? 0, deps.readersPageMax, deps.readersPageMax);
      const after = decodeCursor(req.page?.cursor ?? "", { u: "string" })?.u ?? "";
      const m = await ownReceiptMessage(caller, req.groupId, seqFromRequest(req.seq, "seq"));
      if (m === undefined) throw receiptNotFound();
      const readCount = await store.countGroupReads(m.messageKey);
      let page: { userIds: string[]; next: string | undefined };
      if (filter === ReaderFilter.UNREAD) {
        const group = await deps.groups.selectGroup(req.groupId);
        if (group === undefined) throw receiptNotFound();
        page = await notYetReaders(m, group, after, limit);
      } else {
        const userIds = await store.selectGroupReaders(m.messageKey, after, limit);
        page = {
          userIds,
          next: userIds.length === limit ? userIds[userIds.length - 1] : undefined,
        };
      }
      return {
        userIds: page.userIds,
        readCount,
        nextCursor: page.next === undefined ? "" : encodeCursor({ u: page.next }),
      };
    },
  };
}
