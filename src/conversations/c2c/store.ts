import type { Message } from "../../gen/im/v1/message_pb.js";
import type { ClaimStore, ConversationMessageStore, StoredMessage } from "../store.js";

/** A stored one-to-one message (dedup key: sender, recipient, client id or random). */
export interface MessageRecord extends StoredMessage<Message> {
  /** Sent with no_last_message: the conversation lists show the message before it. */
  noLastMessage: boolean;
}

/** `count` seqs of one conversation. */
export interface SeqRangeRequest {
  conversationId: string;
  count: number;
}

/** One user's view of one conversation. */
export interface ConversationRecord {
  ownerUserId: string;
  conversationId: string;
  peerUserId: string;
  /** Highest seq allocated in the conversation. */
  lastSeq: number;
  /**
   * The stored message of highest seq that updates the lists (not sent with
   * no_last_message), in its latest version (edit, recall tombstone); undefined if none.
   */
  lastMessage: Message | undefined;
  /** Read up to and including this seq. */
  readSeq: number;
  /** When a seq was last allocated in the conversation. */
  updatedAtMs: number;
}

/**
 * Storage port of one-to-one messaging: the conversation messages, their seq
 * counters, and (for every kind) the send claims. The conversation lists are
 * read from the counters and the messages (docs/architecture.md, "Conversation
 * lists"): a send writes no list entry; only read seqs are stored per owner.
 */
export interface MessageStore extends ClaimStore, ConversationMessageStore<Message, MessageRecord> {
  /**
   * Takes the next seq of a conversation (1 for the first). Strictly increasing,
   * never reused. The conversation is in both users' lists from then on, updated at `nowMs`.
   */
  allocateSeq(conversationId: string, nowMs: number): Promise<number>;
  /**
   * Takes `count` consecutive seqs in each of several distinct conversations,
   * in as few round trips as the backend allows; returns the first seq of each
   * range, in order. Never hands a seq out twice within a process; across
   * processes on a backend without atomic updates (FerretDB) two ranges may
   * overlap, and the unique (conversation, seq) index rejects the second insert.
   */
  allocateSeqRanges(requests: readonly SeqRangeRequest[], nowMs: number): Promise<number[]>;
  /** Highest seq allocated in the conversation; 0 if none. */
  selectLastSeq(conversationId: string): Promise<number>;
  /**
   * Counts messages to `ownerUserId` with seq > afterSeq, time >= minTimeMs,
   * that count toward unread, except the seqs of `exceptSeqs` (the owner
   * deleted them for themselves; default none).
   */
  countUnread(
    conversationId: string,
    ownerUserId: string,
    afterSeq: number,
    minTimeMs: number,
    exceptSeqs?: readonly number[],
  ): Promise<number>;

  /**
   * The owner's conversations, most recently updated first, starting after the
   * cursor position (exclusive), at most `limit`.
   */
  selectConversations(
    ownerUserId: string,
    after: { updatedAtMs: number; conversationId: string } | undefined,
    limit: number,
  ): Promise<ConversationRecord[]>;
  /**
   * The seqs of the owner's `limit` most recent conversations (selectConversations'
   * first page) without their last messages: what counting unread needs.
   */
  selectConversationSeqs(
    ownerUserId: string,
    limit: number,
  ): Promise<{ conversationId: string; lastSeq: number; readSeq: number }[]>;
  /**
   * The list's last message for a reader who hides some seqs: the stored message
   * of highest seq above `aboveSeq`, none of `exceptSeqs`, not sent with
   * no_last_message, in its latest version; undefined if none (one query).
   */
  selectLastListed(
    conversationId: string,
    hidden: { aboveSeq: number; exceptSeqs: readonly number[] },
  ): Promise<Message | undefined>;
  /** The owner's read seq in the conversation; 0 if none. */
  selectReadSeq(ownerUserId: string, conversationId: string): Promise<number>;
  /**
   * Raises the owner's read seq to `readSeq` (never lowers it). Returns the
   * stored read seq before and after; both 0 when none was stored.
   */
  updateReadSeq(
    ownerUserId: string,
    conversationId: string,
    readSeq: number,
  ): Promise<{ before: number; after: number }>;
}
