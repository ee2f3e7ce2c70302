import type { GroupMessage } from "../../gen/im/v1/group_pb.js";

/** A stored group message (ordinary message or stored tip) and the fields the store indexes. */
export interface GroupMessageRecord {
  /** Carries groupId, seq, messageKey ("<groupId>:<seq>"), kind, fromUserId, timeMs. */
  message: GroupMessage;
  /** Idempotency key (sender, client id or random + content); undefined: none. */
  dedupKey: string | undefined;
  /** Outbox mark: true until the message is known to be on the bus (tips: always false). */
  unpublished: boolean;
  /** Fan-out flags kept for outbox republishing. */
  skipAfterSendWebhook: boolean;
  skipSyncToSender: boolean;
}

/**
 * Storage port of group messages. Seqs come from the group document
 * (GroupStore.allocateGroupSeqs); this store only keeps the messages, unique
 * per (groupId, seq).
 */
export interface GroupMessageStore {
  /** Inserts a message; throws messaging's SeqTakenError if its (groupId, seq) exists. */
  insertGroupMessage(record: GroupMessageRecord): Promise<void>;
  /** The message stored under `dedupKey` at or after `sinceMs`, if any (the newest). */
  selectGroupMessageByDedupKey(
    dedupKey: string,
    sinceMs: number,
  ): Promise<GroupMessageRecord | undefined>;
  /** Clears the outbox mark of the given message keys; unknown keys are ignored. */
  markGroupMessagesPublished(messageKeys: readonly string[]): Promise<void>;
  /** Messages still marked unpublished with time before `beforeMs`, oldest first. */
  selectUnpublishedGroupMessages(beforeMs: number, limit: number): Promise<GroupMessageRecord[]>;
  /**
   * Messages of the group with afterSeq < seq <= upToSeq (upToSeq 0: no upper
   * bound) and time >= minTimeMs, ascending by seq, at most `limit`.
   */
  selectGroupMessagesAfter(
    groupId: string,
    range: { afterSeq: number; upToSeq: number; minTimeMs: number },
    limit: number,
  ): Promise<GroupMessage[]>;
  /**
   * Messages of the group with aboveSeq < seq < beforeSeq (beforeSeq 0: no
   * bound) and minTimeMs <= time <= maxTimeMs, descending by seq, at most `limit`.
   */
  selectGroupMessagesBefore(
    groupId: string,
    range: { aboveSeq: number; beforeSeq: number; minTimeMs: number; maxTimeMs: number },
    limit: number,
  ): Promise<GroupMessage[]>;
  /**
   * Counts ordinary messages of the group with seq > afterSeq and time >=
   * minTimeMs that count toward unread (not no_unread) and were not sent by `ownerUserId`.
   */
  countGroupUnread(
    groupId: string,
    ownerUserId: string,
    afterSeq: number,
    minTimeMs: number,
  ): Promise<number>;
  /** Deletes every message of the group (disband: a later group may reuse the id). */
  deleteGroupMessages(groupId: string): Promise<void>;
}
