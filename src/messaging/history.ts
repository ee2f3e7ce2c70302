import { create } from "@bufbuild/protobuf";
import type { Clock } from "../common/clock.js";
import { decodeCursor, encodeCursor, pageSize } from "../common/cursor.js";
import { seqFromRequest, timeMsFromRequest } from "../common/proto-numbers.js";
import { assertUserId } from "../common/user-id.js";
import { SubscribeResponseSchema } from "../gen/im/v1/events_pb.js";
import {
  type Conversation,
  ConversationSchema,
  type ListMessagesRequest,
  type Message,
  type SyncMessagesRequest,
} from "../gen/im/v1/message_pb.js";
import type { LiveHub } from "../live/live-hub.js";
import { c2cConversationId } from "./conversation-id.js";
import type { MessageStore } from "./store.js";

export interface HistoryDeps {
  store: MessageStore;
  live: LiveHub;
  clock: Clock;
  retentionMs: number;
  recentContactsMax: number;
}

const SYNC_MAX = 100;
const HISTORY_DEFAULT = 20;
const HISTORY_MAX = 100;

/** Reads of one-to-one messages (always within retention) and read state. */
export function createHistory(deps: HistoryDeps) {
  const { store, clock } = deps;
  const oldestVisible = () => clock() - deps.retentionMs;
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
      const conversations: Conversation[] = await Promise.all(
        records.map(async (r) =>
          create(ConversationSchema, {
            conversationId: r.conversationId,
            peerUserId: r.peerUserId,
            lastSeq: BigInt(r.lastSeq),
            lastMessage:
              r.lastMessage && Number(r.lastMessage.timeMs) >= minTime ? r.lastMessage : undefined,
            unreadCount: await store.countUnread(r.conversationId, owner, r.readSeq, minTime),
            readSeq: BigInt(r.readSeq),
            updatedAtMs: BigInt(r.updatedAtMs),
          }),
        ),
      );
      const last = records[records.length - 1];
      const nextCursor =
        records.length === limit && last
          ? encodeCursor({ t: last.updatedAtMs, c: last.conversationId })
          : "";
      return { conversations, nextCursor };
    },

    /** Fills a gap: ascending by seq; `coveredUpToSeq` says how far the answer is complete. */
    async syncMessages(owner: string, req: SyncMessagesRequest) {
      const conversationId = conversationWith(owner, req.peerUserId);
      const limit = pageSize(req.limit, SYNC_MAX, SYNC_MAX);
      const afterSeq = seqFromRequest(req.afterSeq, "after_seq");
      const upToSeq = seqFromRequest(req.upToSeq, "up_to_seq");
      const lastSeq = await store.selectLastSeq(conversationId);
      const found = await store.selectMessagesAfter(
        conversationId,
        { afterSeq, upToSeq, minTimeMs: oldestVisible() },
        limit + 1,
      );
      const hasMore = found.length > limit;
      const messages = found.slice(0, limit);
      const lastReturned = Number(messages[messages.length - 1]?.seq ?? 0);
      const bound = upToSeq === 0 ? lastSeq : Math.min(upToSeq, Math.max(lastSeq, lastReturned));
      return {
        messages,
        coveredUpToSeq: BigInt(hasMore ? lastReturned : Math.max(bound, lastReturned, afterSeq)),
        hasMore,
        lastSeq: BigInt(Math.max(lastSeq, lastReturned)),
      };
    },

    /** Roaming history, newest first; the cursor carries the seq to continue below. */
    async listMessages(owner: string, req: ListMessagesRequest) {
      const conversationId = conversationWith(owner, req.peerUserId);
      const limit = pageSize(req.page?.pageSize ?? 0, HISTORY_DEFAULT, HISTORY_MAX);
      const cursor = decodeCursor(req.page?.cursor ?? "", { s: "number" });
      const requestedBefore = seqFromRequest(req.beforeSeq, "before_seq");
      const beforeSeq =
        cursor === undefined
          ? requestedBefore
          : requestedBefore === 0
            ? cursor.s
            : Math.min(cursor.s, requestedBefore);
      const messages: Message[] = await store.selectMessagesBefore(
        conversationId,
        {
          beforeSeq,
          minTimeMs: Math.max(timeMsFromRequest(req.minTimeMs, "min_time_ms"), oldestVisible()),
          maxTimeMs:
            req.maxTimeMs === 0n ? clock() : timeMsFromRequest(req.maxTimeMs, "max_time_ms"),
        },
        limit,
      );
      const last = messages[messages.length - 1];
      const nextCursor =
        messages.length === limit && last ? encodeCursor({ s: Number(last.seq) }) : "";
      return { messages, nextCursor };
    },

    /** Raises the read seq (clamped to the latest seq) and tells all the owner's devices. */
    async markRead(owner: string, peer: string, requestedSeq: number) {
      const conversationId = conversationWith(owner, peer);
      const lastSeq = await store.selectLastSeq(conversationId);
      const target = requestedSeq === 0 ? lastSeq : Math.min(requestedSeq, lastSeq);
      const readSeq = await store.updateReadSeq(owner, conversationId, peer, target);
      const unreadCount = await store.countUnread(conversationId, owner, readSeq, oldestVisible());
      deps.live.publishToUser(
        owner,
        create(SubscribeResponseSchema, {
          event: {
            case: "read",
            value: { conversationId, peerUserId: peer, readSeq: BigInt(readSeq), unreadCount },
          },
        }),
      );
      return { readSeq, unreadCount };
    },
  };
}

export type History = ReturnType<typeof createHistory>;
