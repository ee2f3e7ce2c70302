import type { GroupMessage } from "../../gen/im/v1/group_pb.js";
import type { ConversationMessageStore, StoredMessage } from "../store.js";

/**
 * A stored group message (ordinary message or stored tip; dedup key: sender,
 * client id or random + content). The message carries groupId, seq, messageKey
 * ("<groupId>:<seq>"), kind, fromUserId, timeMs. Tips are stored published.
 */
export type GroupMessageRecord = StoredMessage<GroupMessage>;

/**
 * Storage port of group messages. Seqs come from the group document
 * (GroupStore.allocateGroupSeqs); this store keeps the messages, unique per
 * (groupId, seq), with the conversation id being the group id.
 */
export interface GroupMessageStore extends ConversationMessageStore<GroupMessage> {
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
  /**
   * Whether an ordinary message of the group with seq > afterSeq and time >=
   * minTimeMs, not sent by `userId` and not recalled, @-mentions `userId` (me)
   * or everyone (all).
   */
  selectGroupMentions(
    groupId: string,
    userId: string,
    afterSeq: number,
    minTimeMs: number,
  ): Promise<{ me: boolean; all: boolean }>;
  /** Deletes every message of the group (disband: a later group may reuse the id). */
  deleteGroupMessages(groupId: string): Promise<void>;
}
