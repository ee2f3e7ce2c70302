import type { GroupMessage } from "../../gen/im/v1/group_pb.js";
import type { ConversationMessageStore, StoredMessage } from "../store.js";

/**
 * A stored group message (ordinary message or stored tip; dedup key: sender,
 * client id or random + content). The message carries groupId, seq, messageKey
 * ("<groupId>:<seq>"), kind, fromUserId, timeMs. Tips are stored published.
 */
export type GroupMessageRecord = StoredMessage<GroupMessage>;

/** A stored group message that asked for read receipts. */
export interface ReceiptRequest {
  seq: number;
  messageKey: string;
  fromUserId: string;
}

/**
 * Storage port of group messages. Seqs come from the group document
 * (GroupStore.allocateGroupSeqs); this store keeps the messages, unique per
 * (groupId, seq), with the conversation id being the group id.
 */
export interface GroupMessageStore extends ConversationMessageStore<GroupMessage> {
  /**
   * Counts ordinary messages of the group with seq > afterSeq and time >=
   * minTimeMs that count toward unread (not no_unread) and were not sent by
   * `ownerUserId`, except the seqs of `exceptSeqs` (deleted for themselves).
   */
  countGroupUnread(
    groupId: string,
    ownerUserId: string,
    afterSeq: number,
    minTimeMs: number,
    exceptSeqs?: readonly number[],
  ): Promise<number>;
  /**
   * Whether an ordinary message of the group with seq > afterSeq and time >=
   * minTimeMs, not sent by `userId` and not recalled, @-mentions `userId` (me)
   * or everyone (all); seqs of `exceptSeqs` (deleted for themselves) left out.
   */
  selectGroupMentions(
    groupId: string,
    userId: string,
    afterSeq: number,
    minTimeMs: number,
    exceptSeqs?: readonly number[],
  ): Promise<{ me: boolean; all: boolean }>;
  /**
   * Ordinary messages of the group with afterSeq < seq <= upToSeq and time >=
   * minTimeMs that asked for read receipts and were not recalled, ascending by
   * seq: what reading up to `upToSeq` reads for their senders.
   */
  selectReceiptRequests(
    groupId: string,
    range: { afterSeq: number; upToSeq: number; minTimeMs: number },
  ): Promise<ReceiptRequest[]>;
  /** Deletes every message of the group (disband: a later group may reuse the id). */
  deleteGroupMessages(groupId: string): Promise<void>;
}
