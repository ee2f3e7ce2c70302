import { clone } from "@bufbuild/protobuf";
import { c2cUsersOf } from "../../conversations/c2c/conversation-id.js";
import type {
  ConversationRecord,
  MessageRecord,
  MessageStore,
} from "../../conversations/c2c/store.js";
import { appendOneByOne, SeqTakenError } from "../../conversations/store.js";
import { type Message, MessageSchema } from "../../gen/im/v1/message_pb.js";
import { createMemoryOutboxMarks } from "./outbox-marks.js";

/** Single-process MessageStore; same semantics as MongoDB, nothing survives a restart. */
export function createMemoryMessageStore(): MessageStore {
  const claims = new Map<string, number>();
  /** The counter of each conversation, and when it last moved (the lists' order). */
  const seqs = new Map<string, { seq: number; updatedAtMs: number }>();
  // conversationId -> seq -> record; insertion order is seq order for a conversation.
  const messages = new Map<string, Map<number, MessageRecord>>();
  const byKey = new Map<string, MessageRecord>();
  const readSeqs = new Map<string, number>();
  /** user -> their one-to-one conversations with a counter. */
  const byUser = new Map<string, Set<string>>();
  const convKey = (owner: string, conversationId: string) => `${owner}\n${conversationId}`;
  const take = (conversationId: string, count: number, nowMs: number): number => {
    const counter = seqs.get(conversationId);
    if (counter === undefined) {
      for (const user of c2cUsersOf(conversationId) ?? []) {
        const own = byUser.get(user) ?? new Set();
        byUser.set(user, own.add(conversationId));
      }
    }
    const first = (counter?.seq ?? 0) + 1;
    seqs.set(conversationId, {
      seq: first + count - 1,
      updatedAtMs: Math.max(counter?.updatedAtMs ?? 0, nowMs),
    });
    return first;
  };
  /** The owner's view of a conversation with a counter, as MongoDB's adapter reads it. */
  const viewOf = (owner: string, conversationId: string): ConversationRecord | undefined => {
    const counter = seqs.get(conversationId);
    const users = c2cUsersOf(conversationId);
    if (counter === undefined || users === undefined || !users.includes(owner)) return undefined;
    // The newest listed message: the highest seq not sent with no_last_message.
    const stored = messages.get(conversationId);
    let last: Message | undefined;
    for (let seq = counter.seq; seq > 0 && last === undefined && stored !== undefined; seq--) {
      const r = stored.get(seq);
      if (r !== undefined && !r.noLastMessage) last = r.message;
    }
    return {
      ownerUserId: owner,
      conversationId,
      peerUserId: users[0] === owner ? users[1] : users[0],
      lastSeq: counter.seq,
      lastMessage: last && clone(MessageSchema, last),
      readSeq: readSeqs.get(convKey(owner, conversationId)) ?? 0,
      updatedAtMs: counter.updatedAtMs,
    };
  };
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
    async allocateSeqRanges(requests, nowMs) {
      return requests.map(({ conversationId, count }) => take(conversationId, count, nowMs));
    },
    async allocateSeq(conversationId, nowMs) {
      return take(conversationId, 1, nowMs);
    },
    async selectLastSeq(conversationId) {
      return seqs.get(conversationId)?.seq ?? 0;
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
    async countUnread(conversationId, owner, afterSeq, minTimeMs, exceptSeqs = []) {
      return inConversation(conversationId).filter(
        ({ message: m }) =>
          m.toUserId === owner &&
          !exceptSeqs.includes(Number(m.seq)) &&
          !m.noUnread &&
          m.recall === undefined &&
          m.seq > afterSeq &&
          Number(m.timeMs) >= minTimeMs,
      ).length;
    },
    async selectConversations(owner, after, limit) {
      return [...(byUser.get(owner) ?? [])]
        .map((conversationId) => viewOf(owner, conversationId))
        .filter((c): c is ConversationRecord => c !== undefined)
        .sort(byRecency)
        .filter((c) => after === undefined || byRecency(c, { ...c, ...after }) > 0)
        .slice(0, limit);
    },
    async selectConversationSeqs(owner, limit) {
      return (await this.selectConversations(owner, undefined, limit)).map((c) => ({
        conversationId: c.conversationId,
        lastSeq: c.lastSeq,
        readSeq: c.readSeq,
      }));
    },
    async selectLastListed(conversationId, { aboveSeq, exceptSeqs }) {
      const except = new Set(exceptSeqs);
      let newest: MessageRecord | undefined;
      for (const r of messages.get(conversationId)?.values() ?? []) {
        const seq = Number(r.message.seq);
        if (seq <= aboveSeq || except.has(seq) || r.noLastMessage) continue;
        if (newest === undefined || seq > Number(newest.message.seq)) newest = r;
      }
      return newest && clone(MessageSchema, newest.message);
    },
    async selectReadSeq(owner, conversationId) {
      return readSeqs.get(convKey(owner, conversationId)) ?? 0;
    },
    async updateReadSeq(owner, conversationId, readSeq) {
      const key = convKey(owner, conversationId);
      const before = readSeqs.get(key) ?? 0;
      const after = Math.max(before, readSeq);
      readSeqs.set(key, after);
      return { before, after };
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
