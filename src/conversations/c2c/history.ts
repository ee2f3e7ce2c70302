import { create } from "@bufbuild/protobuf";
import type { Clock } from "../../common/clock.js";
import { decodeCursor, encodeCursor, pageSize } from "../../common/cursor.js";
import { assertUserId } from "../../common/user-id.js";
import { SubscribeResponseSchema } from "../../gen/im/v1/events_pb.js";
import {
  type Conversation,
  ConversationSchema,
  type ListMessagesRequest,
  type Message,
  type SyncMessagesRequest,
} from "../../gen/im/v1/message_pb.js";
import type { LiveHub } from "../../live/live-hub.js";
import {
  type HiddenForMe,
  hiddenFor,
  hiddenOf,
  isHiddenForMe,
  unreadRangeOf,
} from "../deleted-for-me.js";
import type { DeletedForMeStore } from "../deleted-for-me-store.js";
import { createHistoryPages, viewWith } from "../history.js";
import type { ReadObserver } from "../read-observer.js";
import { c2cConversationId } from "./conversation-id.js";
import type { MessageStore } from "./store.js";

export interface HistoryDeps {
  store: MessageStore;
  /** What each user deleted for themselves: their own history, list and unread leave it out. */
  deletedForMe: Pick<DeletedForMeStore, "selectDeletedForMe" | "selectDeletedForMeMany">;
  live: LiveHub;
  clock: Clock;
  retentionMs: number;
  recentContactsMax: number;
  /** Told of reads and syncs (receipts); none when unset. */
  readObserver?: Pick<ReadObserver, "c2cRead" | "c2cSynced">;
}

/**
 * Reads of one-to-one messages and read state: both users see the whole
 * conversation, less what each deleted for themselves.
 */
export function createHistory(deps: HistoryDeps) {
  const { store } = deps;
  const pages = createHistoryPages({ store, clock: deps.clock, retentionMs: deps.retentionMs });
  const { oldestVisible } = pages;
  /** Unread of `owner` above the read seq, less what they deleted for themselves. */
  const unreadOf = (
    conversationId: string,
    owner: string,
    readSeq: number,
    hidden: HiddenForMe,
  ) => {
    const { afterSeq, exceptSeqs } = unreadRangeOf(hidden, readSeq);
    return store.countUnread(conversationId, owner, afterSeq, oldestVisible(), exceptSeqs);
  };
  /**
   * The list's last message as the owner sees it: the stored one unless they
   * deleted it for themselves, then the newest listed one they did not (one read).
   */
  const lastVisible = async (
    conversationId: string,
    last: Message | undefined,
    hidden: HiddenForMe,
  ): Promise<Message | undefined> => {
    if (last === undefined || !isHiddenForMe(hidden, Number(last.seq))) return last;
    return store.selectLastListed(conversationId, {
      aboveSeq: hidden.clearedUpToSeq,
      exceptSeqs: hidden.deletedSeqs,
    });
  };
  const conversationWith = (owner: string, peer: string) => {
    assertUserId(peer, "peer_user_id");
    return c2cConversationId(owner, peer);
  };

  return {
    async listConversations(owner: string, page: { pageSize: number; cursor: string }) {
      const limit = pageSize(page.pageSize, deps.recentContactsMax, deps.recentContactsMax);
      const after = decodeCursor(page.cursor, { t: "number", c: "string" });
      const records = await store.selectConversations(
        owner,
        after && { updatedAtMs: after.t, conversationId: after.c },
        limit,
      );
      const minTime = oldestVisible();
      const marks = await deps.deletedForMe.selectDeletedForMeMany(
        owner,
        records.map((r) => r.conversationId),
      );
      const conversations: Conversation[] = await Promise.all(
        records.map(async (r) => {
          const hidden = hiddenOf(marks.get(r.conversationId));
          const last = await lastVisible(r.conversationId, r.lastMessage, hidden);
          return create(ConversationSchema, {
            conversationId: r.conversationId,
            peerUserId: r.peerUserId,
            lastSeq: BigInt(r.lastSeq),
            lastMessage: last && Number(last.timeMs) >= minTime ? last : undefined,
            unreadCount: await unreadOf(r.conversationId, owner, r.readSeq, hidden),
            readSeq: BigInt(r.readSeq),
            updatedAtMs: BigInt(r.updatedAtMs),
          });
        }),
      );
      const last = records[records.length - 1];
      const nextCursor =
        records.length === limit && last
          ? encodeCursor({ t: last.updatedAtMs, c: last.conversationId })
          : "";
      return { conversations, nextCursor };
    },

    /**
     * Unread of the owner's `limit` most recent conversations, as the list
     * counts it (conversations read to their latest cost no count).
     */
    async recentUnread(owner: string, limit: number): Promise<number[]> {
      const records = (await store.selectConversationSeqs(owner, limit)).filter(
        (r) => r.readSeq < r.lastSeq,
      );
      if (records.length === 0) return [];
      const marks = await deps.deletedForMe.selectDeletedForMeMany(
        owner,
        records.map((r) => r.conversationId),
      );
      return Promise.all(
        records.map((r) =>
          unreadOf(r.conversationId, owner, r.readSeq, hiddenOf(marks.get(r.conversationId))),
        ),
      );
    },

    /** Fills a gap: ascending by seq; `coveredUpToSeq` says how far the answer is complete. */
    async syncMessages(owner: string, req: SyncMessagesRequest) {
      const conversationId = conversationWith(owner, req.peerUserId);
      const [lastSeq, hidden] = await Promise.all([
        store.selectLastSeq(conversationId),
        hiddenFor(deps.deletedForMe, owner, conversationId),
      ]);
      const synced = await pages.sync(
        conversationId,
        req,
        viewWith(hidden, { hiddenUpTo: 0, lastSeq }),
      );
      // What a device synced it holds: delivered.
      if (synced.coveredUpToSeq > 0n) {
        await deps.readObserver?.c2cSynced(
          owner,
          req.peerUserId,
          conversationId,
          Number(synced.coveredUpToSeq),
        );
      }
      return synced;
    },

    /** Roaming history, newest first; the cursor carries the seq to continue below. */
    async listMessages(owner: string, req: ListMessagesRequest) {
      const conversationId = conversationWith(owner, req.peerUserId);
      const hidden = await hiddenFor(deps.deletedForMe, owner, conversationId);
      return pages.list(conversationId, req, viewWith(hidden, { hiddenUpTo: 0, lastSeq: 0 }));
    },

    /**
     * Raises the read seq (clamped to the latest seq); when it rose, tells all
     * the owner's devices and the peer (a read that moves nothing is no news).
     */
    async markRead(owner: string, peer: string, requestedSeq: number) {
      const conversationId = conversationWith(owner, peer);
      const lastSeq = await store.selectLastSeq(conversationId);
      const target = requestedSeq === 0 ? lastSeq : Math.min(requestedSeq, lastSeq);
      // Read up to the latest (the usual MarkRead): nothing is unread, so
      // neither the deleted-for-me marks nor the unread count are read.
      const readAll = target >= lastSeq;
      const [{ before, after: readSeq }, hidden] = await Promise.all([
        store.updateReadSeq(owner, conversationId, target),
        readAll ? undefined : hiddenFor(deps.deletedForMe, owner, conversationId),
      ]);
      const unreadCount =
        hidden === undefined ? 0 : await unreadOf(conversationId, owner, readSeq, hidden);
      if (readSeq <= before) return { readSeq, unreadCount };
      deps.live.publishToUser(
        owner,
        create(SubscribeResponseSchema, {
          event: {
            case: "read",
            value: { conversationId, peerUserId: peer, readSeq: BigInt(readSeq), unreadCount },
          },
        }),
      );
      await deps.readObserver?.c2cRead(owner, peer, conversationId, readSeq);
      return { readSeq, unreadCount };
    },
  };
}

export type History = ReturnType<typeof createHistory>;
