import { clone } from "@bufbuild/protobuf";
import type { GroupMessageRecord, GroupMessageStore } from "../../conversations/group/store.js";
import { appendOneByOne, SeqTakenError } from "../../conversations/store.js";
import {
  type GroupMessage,
  GroupMessageKind,
  GroupMessageSchema,
} from "../../gen/im/v1/group_pb.js";
import { createMemoryOutboxMarks } from "./outbox-marks.js";

/** Single-process GroupMessageStore; same semantics as MongoDB, nothing survives a restart. */
export function createMemoryGroupMessageStore(): GroupMessageStore {
  // groupId -> seq -> record.
  const groups = new Map<string, Map<number, GroupMessageRecord>>();
  const byKey = new Map<string, GroupMessageRecord>();
  const byDedupKey = new Map<string, GroupMessageRecord>();
  const copy = (r: GroupMessageRecord): GroupMessageRecord => ({
    ...r,
    message: clone(GroupMessageSchema, r.message),
  });
  const copyMessage = (r: GroupMessageRecord): GroupMessage => clone(GroupMessageSchema, r.message);
  const inGroup = (groupId: string) => [...(groups.get(groupId)?.values() ?? [])];
  const seqOf = (r: GroupMessageRecord) => Number(r.message.seq);
  const timeOf = (r: GroupMessageRecord) => Number(r.message.timeMs);
  const marks = createMemoryOutboxMarks<GroupMessage, GroupMessageRecord>(byKey, copy, (m) =>
    clone(GroupMessageSchema, m),
  );

  return {
    markPublished: marks.markPublished,
    selectUnpublished: marks.selectUnpublished,
    countUnpublished: marks.countUnpublished,
    recallMessage: marks.recallMessage,
    editMessage: marks.editMessage,
    async selectMessage(groupId, seq) {
      const r = groups.get(groupId)?.get(seq);
      return r && copy(r);
    },
    appendMessages(records) {
      return appendOneByOne(records, (r) => this.insertMessage(r));
    },
    async insertMessage(record) {
      const { groupId, seq, messageKey } = record.message;
      let group = groups.get(groupId);
      if (group === undefined) {
        group = new Map();
        groups.set(groupId, group);
      }
      if (group.has(Number(seq))) throw new SeqTakenError(messageKey);
      const stored = copy(record);
      group.set(Number(seq), stored);
      byKey.set(messageKey, stored);
      if (stored.dedupKey !== undefined) byDedupKey.set(stored.dedupKey, stored);
    },
    async selectMessageByDedupKey(dedupKey, sinceMs) {
      const found = byDedupKey.get(dedupKey);
      return found && timeOf(found) >= sinceMs ? copy(found) : undefined;
    },
    async selectMessagesAfter(groupId, { afterSeq, upToSeq, minTimeMs }, limit) {
      return inGroup(groupId)
        .filter(
          (r) =>
            seqOf(r) > afterSeq && (upToSeq === 0 || seqOf(r) <= upToSeq) && timeOf(r) >= minTimeMs,
        )
        .sort((a, b) => seqOf(a) - seqOf(b))
        .slice(0, limit)
        .map(copyMessage);
    },
    async selectMessagesBefore(groupId, { aboveSeq, beforeSeq, minTimeMs, maxTimeMs }, limit) {
      return inGroup(groupId)
        .filter(
          (r) =>
            seqOf(r) > aboveSeq &&
            (beforeSeq === 0 || seqOf(r) < beforeSeq) &&
            timeOf(r) >= minTimeMs &&
            timeOf(r) <= maxTimeMs,
        )
        .sort((a, b) => seqOf(b) - seqOf(a))
        .slice(0, limit)
        .map(copyMessage);
    },
    async countGroupUnread(groupId, owner, afterSeq, minTimeMs, exceptSeqs = []) {
      return inGroup(groupId).filter(
        (r) =>
          seqOf(r) > afterSeq &&
          !exceptSeqs.includes(seqOf(r)) &&
          timeOf(r) >= minTimeMs &&
          r.message.kind === GroupMessageKind.NORMAL &&
          !r.message.noUnread &&
          r.message.recall === undefined &&
          r.message.fromUserId !== owner,
      ).length;
    },
    async selectGroupMentions(groupId, userId, afterSeq, minTimeMs, exceptSeqs = []) {
      const unread = inGroup(groupId).filter(
        (r) =>
          seqOf(r) > afterSeq &&
          !exceptSeqs.includes(seqOf(r)) &&
          timeOf(r) >= minTimeMs &&
          r.message.kind === GroupMessageKind.NORMAL &&
          r.message.recall === undefined &&
          r.message.fromUserId !== userId,
      );
      return {
        me: unread.some((r) => r.message.atUserIds.includes(userId)),
        all: unread.some((r) => r.message.atAll),
      };
    },
    async selectReceiptRequests(groupId, { afterSeq, upToSeq, minTimeMs }) {
      return inGroup(groupId)
        .filter(
          (r) =>
            seqOf(r) > afterSeq &&
            seqOf(r) <= upToSeq &&
            timeOf(r) >= minTimeMs &&
            r.message.kind === GroupMessageKind.NORMAL &&
            r.message.needReadReceipt &&
            r.message.recall === undefined,
        )
        .sort((a, b) => seqOf(a) - seqOf(b))
        .map((r) => ({
          seq: seqOf(r),
          messageKey: r.message.messageKey,
          fromUserId: r.message.fromUserId,
        }));
    },
    async deleteGroupMessages(groupId) {
      for (const r of inGroup(groupId)) {
        byKey.delete(r.message.messageKey);
        if (r.dedupKey !== undefined && byDedupKey.get(r.dedupKey) === r) {
          byDedupKey.delete(r.dedupKey);
        }
      }
      groups.delete(groupId);
    },
  };
}
