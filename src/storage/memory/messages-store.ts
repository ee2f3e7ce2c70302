import { clone } from "@bufbuild/protobuf";
import {
  type ConversationRecord,
  lastMessageRank,
  type MessageRecord,
  type MessageStore,
} from "../../conversations/c2c/store.js";
import { appendOneByOne, SeqTakenError } from "../../conversations/store.js";
import { type Message, MessageSchema } from "../../gen/im/v1/message_pb.js";
import { createMemoryOutboxMarks } from "./outbox-marks.js";

/** Single-process MessageStore; same semantics as MongoDB, nothing survives a restart. */
export function createMemoryMessageStore(): MessageStore {
  const claims = new Map<string, number>();
  const seqs = new Map<string, number>();
  // conversationId -> seq -> record; insertion order is seq order for a conversation.
  const messages = new Map<string, Map<number, MessageRecord>>();
  const byKey = new Map<string, MessageRecord>();
  const conversations = new Map<string, ConversationRecord>();
  const convKey = (owner: string, conversationId: string) => `${owner}\n${conversationId}`;
  const copy = (r: MessageRecord): MessageRecord => ({
    ...r,
    message: clone(MessageSchema, r.message),
  });
  const inConversation = (conversationId: string) => [
    ...(messages.get(conversationId)?.values() ?? []),
  ];
  const marks = createMemoryOutboxMarks<Message, MessageRecord>(byKey, copy, (m) =>
    clone(MessageSchema, m),
  );

  return {
    markPublished: marks.markPublished,
    selectUnpublished: marks.selectUnpublished,
    countUnpublished: marks.countUnpublished,
    recallMessage: marks.recallMessage,
    editMessage: marks.editMessage,
    async selectMessage(conversationId, seq) {
      const r = messages.get(conversationId)?.get(seq);
      return r && copy(r);
    },
    claimDedupKeys(requests) {
      return Promise.all(requests.map((r) => this.claimDedupKey(r.key, r.nowMs, r.windowMs)));
    },
    async claimDedupKey(key, nowMs, windowMs) {
      const claimedAtMs = claims.get(key);
      if (claimedAtMs !== undefined && claimedAtMs > nowMs - windowMs)
        return { kind: "taken", claimedAtMs };
      claims.set(key, nowMs);
      return { kind: "claimed" };
    },
    async releaseDedupKey(key) {
      claims.delete(key);
    },
    async deleteDedupKeysBefore(beforeMs) {
      let n = 0;
      for (const [key, at] of claims) {
        if (at < beforeMs) {
          claims.delete(key);
          n++;
        }
      }
      return n;
    },
    async selectMessageByDedupKey(dedupKey, sinceMs) {
      let found: MessageRecord | undefined;
      for (const r of byKey.values()) {
        if (r.dedupKey === dedupKey && Number(r.message.timeMs) >= sinceMs) found = r;
      }
      return found && copy(found);
    },
    async allocateSeqRanges(requests) {
      return requests.map(({ conversationId, count }) => {
        const first = (seqs.get(conversationId) ?? 0) + 1;
        seqs.set(conversationId, first + count - 1);
        return first;
      });
    },
    async allocateSeq(conversationId) {
      const seq = (seqs.get(conversationId) ?? 0) + 1;
      seqs.set(conversationId, seq);
      return seq;
    },
    async selectLastSeq(conversationId) {
      return seqs.get(conversationId) ?? 0;
    },
    async upsertConversations(updates) {
      for (const u of updates) await this.upsertConversation(u);
    },
    appendMessages(records) {
      return appendOneByOne(records, (r) => this.insertMessage(r));
    },
    async insertMessage(record) {
      const { conversationId, seq, messageKey } = record.message;
      let conv = messages.get(conversationId);
      if (conv === undefined) {
        conv = new Map();
        messages.set(conversationId, conv);
      }
      if (conv.has(Number(seq))) throw new SeqTakenError(messageKey);
      const stored = copy(record);
      conv.set(Number(seq), stored);
      byKey.set(messageKey, stored);
    },
    async selectMessagesAfter(conversationId, { afterSeq, upToSeq, minTimeMs }, limit) {
      return inConversation(conversationId)
        .map((r) => r.message)
        .filter(
          (m) =>
            m.seq > afterSeq &&
            (upToSeq === 0 || m.seq <= upToSeq) &&
            Number(m.timeMs) >= minTimeMs,
        )
        .sort((a, b) => Number(a.seq - b.seq))
        .slice(0, limit)
        .map((m) => clone(MessageSchema, m));
    },
    async selectMessagesBefore(
      conversationId,
      { aboveSeq, beforeSeq, minTimeMs, maxTimeMs },
      limit,
    ) {
      return inConversation(conversationId)
        .map((r) => r.message)
        .filter(
          (m) =>
            m.seq > aboveSeq &&
            (beforeSeq === 0 || m.seq < beforeSeq) &&
            Number(m.timeMs) >= minTimeMs &&
            Number(m.timeMs) <= maxTimeMs,
        )
        .sort((a, b) => Number(b.seq - a.seq))
        .slice(0, limit)
        .map((m) => clone(MessageSchema, m));
    },
    async countUnread(conversationId, owner, afterSeq, minTimeMs) {
      return inConversation(conversationId).filter(
        ({ message: m }) =>
          m.toUserId === owner &&
          !m.noUnread &&
          m.recall === undefined &&
          m.seq > afterSeq &&
          Number(m.timeMs) >= minTimeMs,
      ).length;
    },
    async upsertConversation(u) {
      const key = convKey(u.ownerUserId, u.conversationId);
      const existing = conversations.get(key);
      // The same order as MongoDB's $max on (seq, rank, message).
      const last = existing?.lastMessage;
      const newer =
        u.lastMessage !== undefined &&
        (last === undefined ||
          u.lastMessage.seq > last.seq ||
          (u.lastMessage.seq === last.seq &&
            lastMessageRank(u.lastMessage) > lastMessageRank(last)));
      conversations.set(key, {
        ownerUserId: u.ownerUserId,
        conversationId: u.conversationId,
        peerUserId: existing?.peerUserId ?? u.peerUserId,
        lastSeq: Math.max(existing?.lastSeq ?? 0, u.seq),
        lastMessage: newer && u.lastMessage ? clone(MessageSchema, u.lastMessage) : last,
        readSeq: existing?.readSeq ?? 0,
        updatedAtMs: Math.max(existing?.updatedAtMs ?? 0, u.timeMs),
      });
    },
    async selectConversations(owner, after, limit) {
      return [...conversations.values()]
        .filter((c) => c.ownerUserId === owner)
        .sort(byRecency)
        .filter((c) => after === undefined || byRecency(c, { ...c, ...after }) > 0)
        .slice(0, limit)
        .map((c) => ({ ...c }));
    },
    async selectConversation(owner, conversationId) {
      const c = conversations.get(convKey(owner, conversationId));
      return c && { ...c };
    },
    async updateReadSeq(owner, conversationId, peerUserId, readSeq) {
      const key = convKey(owner, conversationId);
      const existing = conversations.get(key);
      if (existing === undefined) {
        conversations.set(key, {
          ownerUserId: owner,
          conversationId,
          peerUserId,
          lastSeq: 0,
          lastMessage: undefined,
          readSeq,
          updatedAtMs: 0,
        });
        return readSeq;
      }
      existing.readSeq = Math.max(existing.readSeq, readSeq);
      return existing.readSeq;
    },
  };
}

/** Most recently updated first; ties broken by conversation id so paging is stable. */
const byRecency = (
  a: { updatedAtMs: number; conversationId: string },
  b: { updatedAtMs: number; conversationId: string },
): number =>
  b.updatedAtMs - a.updatedAtMs ||
  (a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : 0);
